package core

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseIDs checks that ParseAgentID and ParseHostID accept exactly the
// prefixed 32-lowercase-hex form, return the input unchanged when they do,
// that Hex strips only the prefix, and that every rejection wraps
// ErrInvalidInput.
func FuzzParseIDs(f *testing.F) {
	f.Add("agent-0123456789abcdef0123456789abcdef")
	f.Add("host-0123456789abcdef0123456789abcdef")
	f.Add("agent-0123456789ABCDEF0123456789abcdef")
	f.Add("host-0123456789abcdef0123456789abcdef\n")
	f.Add("agent-agent-0123456789abcdef0123456789")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		wellFormed := func(prefix string) bool {
			rest, ok := strings.CutPrefix(s, prefix)
			if !ok || len(rest) != 32 {
				return false
			}
			for _, c := range []byte(rest) {
				if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
					return false
				}
			}
			return true
		}
		a, err := ParseAgentID(s)
		if wellFormed("agent-") {
			if err != nil || string(a) != s || len(a.Hex()) != 32 || "agent-"+a.Hex() != s {
				t.Fatalf("ParseAgentID(%q) = %q, %v", s, a, err)
			}
		} else if err == nil || !errors.Is(err, ErrInvalidInput) || a != "" {
			t.Fatalf("ParseAgentID(%q) accepted or bad error: %q, %v", s, a, err)
		}
		h, err := ParseHostID(s)
		if wellFormed("host-") {
			if err != nil || string(h) != s || "host-"+h.Hex() != s {
				t.Fatalf("ParseHostID(%q) = %q, %v", s, h, err)
			}
		} else if err == nil || !errors.Is(err, ErrInvalidInput) || h != "" {
			t.Fatalf("ParseHostID(%q) accepted or bad error: %q, %v", s, h, err)
		}
	})
}

// FuzzValidateName checks the naming rule: accepted names are non-empty
// ASCII letters, digits, '-' and '_' that start and end alphanumeric (so they
// are safe as tmux session, shell and tag words); rejected names wrap
// ErrInvalidInput and carry a hint.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"my-agent", "a", "_x", "x_", "a b", "ä", "a\n", "-rf", "a;b", "a$(id)", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
		want := name != "" && len(name) <= MaxNameLength && alnum(name[0]) && alnum(name[len(name)-1])
		for i := 0; want && i < len(name); i++ {
			c := name[i]
			want = alnum(c) || c == '-' || c == '_'
		}
		err := ValidateName("agent", name)
		if want {
			if err != nil {
				t.Fatalf("ValidateName(%q) rejected a valid name: %v", name, err)
			}
			if ShellQuote(name) != name && ShellQuote(name) != "'"+name+"'" {
				t.Fatalf("valid name %q is not a plain shell word: %s", name, ShellQuote(name))
			}
			return
		}
		if err == nil {
			t.Fatalf("ValidateName(%q) accepted an invalid name", name)
		}
		if !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("ValidateName(%q) error does not wrap ErrInvalidInput: %v", name, err)
		}
		var he *HintError
		if !errors.As(err, &he) || he.Hint == "" {
			t.Fatalf("ValidateName(%q) error has no hint: %v", name, err)
		}
		if utf8.ValidString(name) && !strings.Contains(err.Error(), "agent name") {
			t.Fatalf("error does not name the kind: %v", err)
		}
	})
}
