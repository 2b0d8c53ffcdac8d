package core

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable returns s for a terminal: unchanged when it holds no control
// character, else with every control character (ESC, CR, BEL, C1 codes,
// DEL…) and invalid byte written as a Go escape (\x1b, \r, \u009b), so a
// name or label read from a host or a repository can never move the
// cursor, set the window title or hide text.
func Printable(s string) string {
	if !HasControl(s) {
		return s
	}
	q := strconv.QuoteToGraphic(s)
	q = q[1 : len(q)-1]
	// QuoteToGraphic escapes the quote and backslash too; put the quote back.
	return strings.ReplaceAll(q, `\"`, `"`)
}

// HasControl reports whether s holds a control character or is not valid
// UTF-8.
func HasControl(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r) {
			return true
		}
	}
	return false
}

// CheckBranchName refuses a branch name git would read as an option or
// refuse as a ref (leading '-', control characters, spaces, "..", "@{",
// the characters ~^:?*[\, a part starting with '.', a ".lock" end): a
// branch name read from a host record goes to git only after this check.
func CheckBranchName(name string) error {
	bad := name == "" || name == "@" || strings.HasPrefix(name, "-") || HasControl(name) ||
		strings.ContainsAny(name, " ~^:?*[\\") || strings.Contains(name, "..") || strings.Contains(name, "@{") ||
		strings.Contains(name, "//") || strings.HasSuffix(name, "/") || strings.HasSuffix(name, ".") || strings.HasSuffix(name, ".lock")
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") {
			bad = true
		}
	}
	if bad {
		return WithHint(fmt.Errorf("invalid branch name %q: %w", name, ErrInvalidInput),
			"the host's record of this agent was changed; check the host, or recreate the agent")
	}
	return nil
}

// PrintableLines is Printable for each line of a multi-line message: the
// line breaks stay, every other control character is escaped.
func PrintableLines(s string) string {
	if !HasControl(s) {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Printable(l)
	}
	return strings.Join(lines, "\n")
}
