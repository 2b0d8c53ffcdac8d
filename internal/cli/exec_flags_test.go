package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExecCwd(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "c1", "command", "--", "sleep", "60")
	rec := agentRecordOf(t, te.env["MNGR_HOST_DIR"], "c1")
	if err := os.MkdirAll(filepath.Join(rec.WorkDir, "sub dir"), 0o750); err != nil {
		t.Fatal(err)
	}
	if got := te.execOut("c1", "pwd"); got != rec.WorkDir {
		t.Errorf("pwd = %q", got)
	}
	if got := strings.TrimSpace(te.mustRun("exec", "c1", "--cwd", "sub dir", "--", "pwd")); got != filepath.Join(rec.WorkDir, "sub dir") {
		t.Errorf("relative --cwd: pwd = %q", got)
	}
	abs := t.TempDir()
	if got := strings.TrimSpace(te.mustRun("exec", "c1", "--cwd", abs, "--", "pwd")); got != abs {
		t.Errorf("absolute --cwd: pwd = %q, want %s", got, abs)
	}
	if code := te.run("exec", "c1", "--cwd", "nope", "--", "pwd"); code != ExitError {
		t.Errorf("missing --cwd: exit %d", code)
	}
	if !strings.Contains(te.errOut.String(), "mngr: no directory nope in the work dir") {
		t.Errorf("stderr = %q", te.errOut)
	}
}

func TestExecTimeoutStopsTheCommand(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "t1", "command", "--", "sleep", "60")
	marker := filepath.Join(t.TempDir(), "finished")
	start := time.Now()
	code := te.run("exec", "t1", "--timeout", "1s", "--", "sh", "-c", "echo begun; sleep 31.4159; touch "+marker)
	if code != 124 {
		t.Fatalf("exit = %d, want 124; stderr %s", code, te.errOut)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("took %s", el)
	}
	for _, w := range []string{"ran longer than --timeout 1s and was stopped (exit status 124)", "raise --timeout"} {
		if !strings.Contains(te.errOut.String(), w) {
			t.Errorf("stderr lacks %q: %s", w, te.errOut)
		}
	}
	if !strings.Contains(te.out.String(), "begun") {
		t.Errorf("stdout = %q, want the output before the timeout", te.out)
	}
	// The command's processes are gone, not left running.
	if out, err := exec.CommandContext(context.Background(), "pgrep", "-f", "sleep 31.4159").Output(); err == nil {
		t.Errorf("the command still runs: %s", out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command finished despite the timeout")
	}
	// In time: exit 0; plain seconds are accepted, and so is a setting.
	te.mustRun("exec", "t1", "--timeout", "30", "true")
	writeTestFile(t, filepath.Join(te.env["HOME"], ".mngr", "settings.toml"), "[commands.exec]\ntimeout = \"1s\"\n")
	if code := te.run("exec", "t1", "sleep 20"); code != 124 {
		t.Errorf("[commands.exec] timeout: exit %d, want 124", code)
	}
}

func TestExecBadFlags(t *testing.T) {
	te := newTestEnv(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--timeout", "soon"}, `invalid --timeout "soon"`},
		{[]string{"--timeout", "0"}, "it must be more than 0"},
		{[]string{"--timeout", "-5s"}, "it must be more than 0"},
		{[]string{"--stream", "--format", "json"}, "--stream cannot be used with --format json"},
		{[]string{"--on-error", "stop"}, `--on-error "stop": use continue or abort`},
	} {
		args := append(append([]string{"exec", "a"}, tt.args...), "true")
		if code := te.run(args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want 2", tt.args, code)
		}
		if !strings.Contains(te.errOut.String(), tt.want) {
			t.Errorf("%v: stderr lacks %q: %s", tt.args, tt.want, te.errOut)
		}
	}
}

func TestExecStream(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "s1", "command", "--", "sleep", "60")
	out := te.mustRun("exec", "s1", "--stream", "--format", "jsonl", "--", "sh", "-c", "echo one; echo two >&2; printf three")
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev map[string]any
		if err := jsonUnmarshal(l, &ev); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		lines = append(lines, ev)
	}
	got := map[string]bool{}
	for _, ev := range lines {
		if ev["event"] == "output" {
			got[ev["stream"].(string)+":"+ev["line"].(string)] = true
		}
	}
	for _, w := range []string{"stdout:one", "stderr:two", "stdout:three"} {
		if !got[w] {
			t.Errorf("no output event %s in %v", w, lines)
		}
	}
	last := lines[len(lines)-1]
	if last["event"] != "exec_result" || last["stdout"] != "one\nthree" || last["success"] != true {
		t.Errorf("last event = %v", last)
	}
	// Human: the output comes while the command runs (a reader sees the
	// first line before the command ends).
	te.reset()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	te.f.IO.Out = w
	done := make(chan ExitCode, 1)
	go func() {
		done <- Run(context.Background(), te.f, []string{"exec", "s1", "--stream", "--", "sh", "-c", "echo early; sleep 3; echo late"})
		_ = w.Close()
	}()
	buf := make([]byte, 64)
	start := time.Now()
	n, _ := r.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "early") || time.Since(start) > 2500*time.Millisecond {
		t.Errorf("first read %q after %s, want early before the command ends", buf[:n], time.Since(start))
	}
	if code := <-done; code != 0 {
		t.Errorf("exit = %d", code)
	}
}

// TestExecOnError: by default the command runs on every agent; with
// --on-error abort the first failure stops the run and the agents after it
// are named as not run. Either way the exit status is 1.
func TestExecOnError(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	for _, n := range []string{"o1", "o2", "o3"} {
		te.mustRun("create", n, "command", "--", "sleep", "60")
	}
	marks := t.TempDir()
	cmd := []string{"--", "sh", "-c", `echo ran >> "$1/ran-$MNGR_AGENT_NAME"; [ "$MNGR_AGENT_NAME" != o2 ]`, "sh", marks}
	ran := func(n string) bool {
		_, err := os.Stat(filepath.Join(marks, "ran-"+n))
		return err == nil
	}
	var sum execSummary
	if code := te.run(append([]string{"exec", "o1", "o2", "o3", "--on-error", "abort", "--format", "json"}, cmd...)...); code != ExitError {
		t.Fatalf("abort: exit %d, want 1; stderr %s", code, te.errOut)
	}
	te.jsonOut(&sum)
	if !ran("o1") || !ran("o2") || ran("o3") || sum.TotalExecuted != 2 || sum.TotalFailed != 2 ||
		sum.FailedAgents[1].Agent != "o3" || !strings.Contains(sum.FailedAgents[1].Error, "not run") {
		t.Errorf("abort: o1 %v o2 %v o3 %v, summary %+v", ran("o1"), ran("o2"), ran("o3"), sum)
	}
	if err := os.Remove(filepath.Join(marks, "ran-o1")); err != nil {
		t.Fatal(err)
	}
	if code := te.run(append([]string{"exec", "o1", "o2", "o3"}, cmd...)...); code != ExitError || !ran("o1") || !ran("o3") {
		t.Errorf("continue: exit %d, o3 ran %v; stderr %s", code, ran("o3"), te.errOut)
	}
}
