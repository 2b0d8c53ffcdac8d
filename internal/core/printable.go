package core

import (
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
