package core

import "strings"

// ShellQuote quotes s for POSIX sh so that it is read back as one word with
// exactly its bytes. It is the one quoting function of mngr: every value put
// into a shell script goes through it.
func ShellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.IndexFunc(s, needsQuoting) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// needsQuoting reports whether r is special to sh anywhere in a word.
func needsQuoting(r rune) bool {
	plain := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,@+%", r)
	return !plain
}

// ShellJoin quotes each word and joins them with spaces.
func ShellJoin(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = ShellQuote(w)
	}
	return strings.Join(q, " ")
}

// ScriptCall is the one way mngr renders a shell script of more than a few
// lines. Such a script lives in an embedded .sh file next to the Go code
// that runs it (//go:embed) and reads its values as positional parameters,
// $1, $2, …, documented in its header; values are never pasted into its
// text. ScriptCall binds args to script: it returns the script with
// `set -- ARG…` (each word ShellQuoted) as its first command, after the #!
// line when there is one. The result is a whole script that needs nothing
// else: an Executor runs it (with sh -c), `sh -s` reads it on stdin (its
// values, secrets included, then stay off every argv), and written to a
// file it runs as it is.
func ScriptCall(script string, args ...string) string {
	set := "set --"
	if len(args) > 0 {
		set += " " + ShellJoin(args)
	}
	if strings.HasPrefix(script, "#!") {
		shebang, rest, _ := strings.Cut(script, "\n")
		return shebang + "\n" + set + "\n" + rest
	}
	return set + "\n" + script
}
