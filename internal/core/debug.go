package core

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// The debug log is what `-v` shows: one line per ARM request and per
// command run on a host, with its outcome and duration. It is process-wide
// (set once by the CLI) so that the layers that make requests need no
// plumbing for it. It never carries request bodies, headers or scripts
// beyond a first line cut short, so no secret reaches it.
var debugLog struct {
	mu  sync.Mutex
	out io.Writer
}

// SetDebugOutput sends the debug log to w; nil turns it off.
func SetDebugOutput(w io.Writer) {
	debugLog.mu.Lock()
	defer debugLog.mu.Unlock()
	debugLog.out = w
}

// DebugEnabled reports whether the debug log goes anywhere.
func DebugEnabled() bool {
	debugLog.mu.Lock()
	defer debugLog.mu.Unlock()
	return debugLog.out != nil
}

// Debugf writes one line to the debug log when it is on.
func Debugf(format string, args ...any) {
	debugLog.mu.Lock()
	defer debugLog.mu.Unlock()
	if debugLog.out == nil {
		return
	}
	line := PrintableLines(strings.TrimRight(fmt.Sprintf(format, args...), "\n"))
	_, _ = fmt.Fprintf(debugLog.out, "debug %s %s\n", time.Now().Format("15:04:05.000"), line)
}

// ScriptSummary is the first line of script, at most 60 characters, for
// the debug log. A line that looks like key material is not shown.
func ScriptSummary(script string) string {
	first, _, more := strings.Cut(strings.TrimSpace(script), "\n")
	if strings.Contains(first, "PRIVATE KEY") || strings.Contains(first, "BEGIN ") {
		return "(script)"
	}
	if r := []rune(first); len(r) > 60 {
		first, more = string(r[:60]), true
	}
	if more {
		first += " …"
	}
	return first
}
