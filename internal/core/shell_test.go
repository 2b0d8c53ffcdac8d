package core

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

// roundTrip has sh read ShellQuote(s) back and print it.
func roundTrip(t *testing.T, s string) string {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), "sh", "-c", "printf %s "+ShellQuote(s)).Output()
	if err != nil {
		t.Fatalf("sh -c printf %%s %s: %v", ShellQuote(s), err)
	}
	return string(out)
}

func TestShellQuote(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "''"},
		{"plain", "plain"},
		{"a/b-c_d.e:f,g@h+i%j=k", "a/b-c_d.e:f,g@h+i%j=k"},
		{"two words", "'two words'"},
		{"it's", `'it'\''s'`},
		{"'", `''\'''`},
		{"$HOME", "'$HOME'"},
		{"`id`", "'`id`'"},
		{"a\nb", "'a\nb'"},
		{"~", "'~'"},
		{"*", "'*'"},
		{"-n", "-n"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ShellQuote(tt.in); got != tt.want {
				t.Errorf("ShellQuote(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := roundTrip(t, tt.in); got != tt.in {
				t.Errorf("sh read %q back as %q", tt.in, got)
			}
		})
	}
}

func TestShellJoin(t *testing.T) {
	words := []string{"printf", "%s|", "a b", "it's", "", "$x"}
	got := ShellJoin(words)
	if want := `printf '%s|' 'a b' 'it'\''s' '' '$x'`; got != want {
		t.Fatalf("ShellJoin = %q, want %q", got, want)
	}
	out, err := exec.CommandContext(context.Background(), "sh", "-c", got).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "a b|it's||$x|"; string(out) != want {
		t.Errorf("sh ran %q and printed %q, want %q", got, out, want)
	}
}

// FuzzShellQuote checks that sh reads every quoted string back byte for byte
// (NUL cannot be in an argument, so it is skipped).
func FuzzShellQuote(f *testing.F) {
	for _, s := range []string{"", "a", "it's", "'\\''", "$(id)", "a\nb\tc", "\xff\xfe", "--", "\"'\"", "!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 0) {
			t.Skip("NUL cannot be passed in an argument")
		}
		if got := roundTrip(t, s); got != s {
			t.Errorf("sh read %q back as %q (quoted %s)", s, got, ShellQuote(s))
		}
	})
}
