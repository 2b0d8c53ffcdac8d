package cli

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

// stdinNamesMax bounds how many names `-` reads, so a command fed a stream
// that never ends (yes | mngr stop -) fails instead of growing without end.
const stdinNamesMax = 10000

// namesFromArgs returns the agent addresses of a verb's arguments with a
// single `-` replaced, in place, by the names read from the command's
// stdin: one per line, blank lines and lines starting with # skipped,
// spaces trimmed (what `mngr list --ids` and `--addrs` print). Every verb
// that takes agent names (message, exec, stop, start, destroy, label,
// limit, …) calls it first, so `mngr list --ids --label team=x | mngr stop -`
// works the same everywhere.
//
// A `-` given twice, or a stdin with no name in it while no other name was
// given, is a usage error (exit 2).
func namesFromArgs(cmd *cobra.Command, args []string) ([]string, error) {
	dash := -1
	for i, a := range args {
		if a != "-" {
			continue
		}
		if dash >= 0 {
			return nil, core.WithHint(usageErrorf("'-' (read names from stdin) is given twice"), "give '-' once; stdin is read once")
		}
		dash = i
	}
	if dash < 0 {
		return args, nil
	}
	names, err := readNames(cmd.InOrStdin())
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(args)-1+len(names))
	out = append(out, args[:dash]...)
	out = append(out, names...)
	out = append(out, args[dash+1:]...)
	if len(out) == 0 {
		return nil, core.WithHint(usageErrorf("'-' read no agent name from stdin"),
			"pipe one name or id per line into it, for example: mngr list --ids --running | mngr %s -", cmd.Name())
	}
	return out, nil
}

// readNames reads one name per line from r (see namesFromArgs).
func readNames(r io.Reader) ([]string, error) {
	var names []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if len(names) == stdinNamesMax {
			return nil, core.WithHint(usageErrorf("more than %d agent names on stdin", stdinNamesMax), "split the list into smaller batches")
		}
		if strings.ContainsAny(s, " \t") {
			return nil, core.WithHint(usageErrorf("stdin line %d %q is not one agent name", line, core.Printable(s)),
				"give one NAME, ID or NAME@HOST.PROVIDER per line (what mngr list --ids or --addrs prints)")
		}
		names = append(names, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read agent names from stdin: %w", err)
	}
	return names, nil
}
