package cli

import (
	"strings"
	"testing"
)

func TestConnectArgv(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "demo", "command", "--", "sleep", "60")
	te.reset()
	var argv []string
	opts := &connectOptions{f: te.f, Agent: "demo", Start: true, getenv: func(string) string { return "" },
		execFn: func(a []string) error { argv = a; return nil }}
	if err := runConnect(t.Context(), opts); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(argv, " ")
	if len(argv) == 0 || !strings.Contains(joined, "attach") || !strings.Contains(joined, te.env["MNGR_PREFIX"]+"demo") {
		t.Errorf("argv = %q", argv)
	}
	// Inside tmux, connect refuses unless allowed.
	opts.getenv = func(k string) string {
		if k == "TMUX" {
			return "/tmp/tmux-1/default,1,0"
		}
		return ""
	}
	argv = nil
	err := runConnect(t.Context(), opts)
	if err == nil || !strings.Contains(err.Error(), "inside tmux") || argv != nil {
		t.Errorf("nested: err=%v argv=%q", err, argv)
	}
}

func TestConnectNeedsOneAgent(t *testing.T) {
	te := newTestEnv(t)
	if code := te.run("connect"); code != ExitUsage {
		t.Errorf("exit = %d, want %d", code, ExitUsage)
	}
	if code := te.run("conn", "nobody"); code != 1 || !strings.Contains(te.errOut.String(), "agent not found") {
		t.Errorf("missing: code %d stderr %q", code, te.errOut)
	}
}
