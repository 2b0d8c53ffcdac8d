package cli

import (
	"strings"
	"testing"
)

func TestWaitAndTranscriptErrors(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "w", "command", "--", "sleep", "600")
	if code := te.run("wait", "w"); code != ExitUsage {
		t.Errorf("wait without --state: exit %d", code)
	}
	if code := te.run("wait", "w", "--state", "BUSY"); code != ExitUsage || !strings.Contains(te.errOut.String(), "RUNNING, WAITING, DONE") {
		t.Errorf("wait --state BUSY: exit %d, %s", code, te.errOut)
	}
	te.mustRun("wait", "w", "--state", "waiting", "--timeout", "5s")
	if code := te.run("wait", "w", "--state", "DONE", "--timeout", "1500ms", "--format", "json"); code != ExitError ||
		!strings.Contains(te.errOut.String(), "w is WAITING") || !strings.Contains(te.out.String(), `"reached":false`) {
		t.Errorf("wait that times out: exit %d\n%s\n%s", code, te.out, te.errOut)
	}
	if code := te.run("transcript", "w"); code == 0 || !strings.Contains(te.errOut.String(), "mngr capture w") {
		t.Errorf("transcript of a command agent: exit %d, %s", code, te.errOut)
	}

	// A DONE agent: message --start runs its program again, then sends.
	te.mustRun("create", "once", "command", "--", "sh", "-c", "sleep 2; exit 0")
	te.mustRun("wait", "once", "--state", "DONE", "--timeout", "20s")
	te.mustRun("message", "once", "-m", "hello again", "--start")
}
