package core

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/testenv"
)

// isolatePaneTmux gives the test its own tmux server and a bare HOME, so
// agent shells read no start-up files; the server goes when the test ends.
func isolatePaneTmux(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		testenv.Missing(t, "tmux is not installed")
	}
	dir, err := os.MkdirTemp("", "mngr-core-tmux-")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMUX_TMPDIR", dir)
	t.Setenv("TMUX", "")
	t.Setenv("HOME", dir)
	t.Cleanup(func() {
		_ = exec.CommandContext(context.Background(), "tmux", "kill-server").Run()
		_ = os.RemoveAll(dir)
	})
}

// waitPane captures the agent's pane until it holds every one of want,
// for at most 5 s, and returns the last capture.
func waitPane(t *testing.T, h *Host, prefix string, rec AgentRecord, want ...string) string {
	t.Helper()
	var got string
	for i := 0; i < 50; i++ {
		var err error
		got, err = CapturePane(context.Background(), h, prefix, rec, false)
		if err != nil {
			t.Fatal(err)
		}
		all := true
		for _, w := range want {
			all = all && strings.Contains(got, w)
		}
		if all {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("pane never showed %q; it shows:\n%s", want, got)
	return got
}

// stopAtEnd stops the agent before the test's temp dirs go, so its
// activity watcher writes nothing into a directory being removed.
func stopAtEnd(t *testing.T, h *Host, prefix string, rec AgentRecord) {
	t.Helper()
	t.Cleanup(func() { _ = StopAgent(context.Background(), h, prefix, rec) })
}

func startedAgent(t *testing.T, h *Host, prefix string, spec AgentSpec) AgentRecord {
	t.Helper()
	ctx := context.Background()
	rec, err := CreateAgent(ctx, h, prefix, spec)
	if err != nil {
		t.Fatal(err)
	}
	stopAtEnd(t, h, prefix, rec)
	if err := StartAgent(ctx, h, prefix, rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestSendMessageAndCapture(t *testing.T) {
	isolatePaneTmux(t)
	ctx := context.Background()
	h := testHost(t)
	const prefix = "msg-"
	rec := startedAgent(t, h, prefix, AgentSpec{Name: "cat", Type: "command", Command: "cat"})
	if err := WaitAgentReady(ctx, h, prefix, rec, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := SendMessage(ctx, h, prefix, rec, "hello"); err != nil {
		t.Fatal(err)
	}
	// The tty echoes the typed line, then cat prints it.
	waitPane(t, h, prefix, rec, "hello\nhello\n")

	// A sink agent keeps what it receives: every byte must arrive as sent.
	sinkFile := filepath.Join(t.TempDir(), "received")
	sink := startedAgent(t, h, prefix, AgentSpec{Name: "sink", Type: "command", Command: "cat > " + ShellQuote(sinkFile)})
	if err := WaitAgentReady(ctx, h, prefix, sink, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	messages := []struct{ text, arrives string }{
		{"hello", "hello\n"},
		// Characters tmux or sh could read as syntax arrive as typed.
		{`it's "$HOME" ; \; -l ` + "`id`", `it's "$HOME" ; \; -l ` + "`id`\n"},
		{"bye\n\n", "bye\n"},
		// cat has no bracketed paste: the lines reach it one by one.
		{"first line\nsecond line", "first line\nsecond line\n"},
		{"after the paste", "after the paste\n"},
	}
	var want string
	for _, m := range messages {
		if err := SendMessage(ctx, h, prefix, sink, m.text); err != nil {
			t.Fatalf("message %q: %v", m.text, err)
		}
		want += m.arrives
	}
	var got string
	for i := 0; i < 50 && got != want; i++ {
		data, _ := os.ReadFile(sinkFile)
		got = string(data)
		time.Sleep(100 * time.Millisecond)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("received (-want +got)\n%s", d)
	}

	full, err := CapturePane(ctx, h, prefix, rec, true)
	if err != nil || !strings.Contains(full, "hello") || strings.HasSuffix(full, "\n\n") {
		t.Errorf("full capture = %q, %v; want the history without trailing blank lines", full, err)
	}

	if err := SendMessage(ctx, h, prefix, rec, " \n"); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("empty message: err = %v, want ErrInvalidInput", err)
	}
	if err := StopAgent(ctx, h, prefix, rec); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"message": func() error { return SendMessage(ctx, h, prefix, rec, "hello") },
		"capture": func() error { _, err := CapturePane(ctx, h, prefix, rec, false); return err },
		"ready":   func() error { return WaitAgentReady(ctx, h, prefix, rec, time.Second) },
	} {
		err := call()
		if !errors.Is(err, ErrNotFound) || !strings.Contains(HintOf(err), "mngr start cat") || !strings.Contains(err.Error(), "stopped") {
			t.Errorf("%s to a stopped agent: err = %v (hint %q), want ErrNotFound saying stopped, hint mngr start", name, err, HintOf(err))
		}
	}
}

// scriptRecorder is an executor that keeps every script and stdin it runs.
type scriptRecorder struct {
	mu      sync.Mutex
	scripts []string
	inner   Executor
}

func (r *scriptRecorder) Run(ctx context.Context, script string, opts RunOptions) (RunResult, error) {
	r.mu.Lock()
	r.scripts = append(r.scripts, script)
	r.mu.Unlock()
	return r.inner.Run(ctx, script, opts)
}

func (r *scriptRecorder) InteractiveArgv(script string) []string {
	return r.inner.InteractiveArgv(script)
}

func TestMessagesAndSecretsStayOutOfScripts(t *testing.T) {
	isolatePaneTmux(t)
	ctx := context.Background()
	rec := &scriptRecorder{inner: shExecutor{}}
	h := testHost(t)
	h.Exec = rec
	const secret = "sk-very-secret-value"
	a := startedAgent(t, h, "sec-", AgentSpec{Name: "a", Type: "command", Command: "cat", Env: []string{"API_KEY=" + secret}})
	if err := SendMessage(ctx, h, "sec-", a, "message text "+secret); err != nil {
		t.Fatal(err)
	}
	waitPane(t, h, "sec-", a, "message text "+secret)
	if err := SendMessage(ctx, h, "sec-", a, "two\nlines "+secret); err != nil {
		t.Fatal(err)
	}
	for _, s := range rec.scripts {
		if strings.Contains(s, secret) {
			t.Errorf("a script run on the host holds the secret:\n%s", s)
		}
	}
	st, err := os.Stat(filepath.Join(h.HostDir, "agents", string(a.ID), "env"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("env file mode = %v, want 0600", st.Mode().Perm())
	}
	got := runOK(t, h, envPrefix(h, a.ID)+`; printf %s "$API_KEY"`)
	if got != secret {
		t.Errorf("API_KEY from the env file = %q", got)
	}
	_, err = CreateAgent(ctx, h, "sec-", AgentSpec{Name: "b", Type: "command", Command: "cat", Env: []string{"1BAD=" + secret}})
	if !errors.Is(err, ErrInvalidInput) || strings.Contains(err.Error(), secret) {
		t.Errorf("bad env entry: err = %v, want ErrInvalidInput without the value", err)
	}
}

func TestWaitAgentReadyTimesOut(t *testing.T) {
	isolatePaneTmux(t)
	ctx := context.Background()
	h := testHost(t)
	rec := startedAgent(t, h, "rdy-", AgentSpec{Name: "r", Type: "command", Command: "cat"})
	// The pane runs cat; a record expecting another program never gets ready.
	other := rec
	other.Command = "some-other-program --flag"
	start := time.Now()
	err := WaitAgentReady(ctx, h, "rdy-", other, 600*time.Millisecond)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(HintOf(err), "agent_ready_timeout") || !strings.Contains(err.Error(), "some-other-pro") {
		t.Errorf("err = %v (hint %q), want ErrTimeout naming the process, hint naming agent_ready_timeout", err, HintOf(err))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s for a 600ms timeout", took)
	}
}

func TestParseReadyProbe(t *testing.T) {
	tests := []struct {
		name, out, want string
		running         bool
	}{
		{"pane command", "10 claude\n" + markPS + "\n", "claude", true},
		{"descendant", "10 bash\n" + markPS + "\n10 1 bash\n11 10 sh\n12 11 claude\n", "claude", true},
		{"unrelated process", "10 bash\n" + markPS + "\n10 1 bash\n20 1 claude\n", "claude", false},
		{"truncated comm", "10 bash\n" + markPS + "\n11 10 a-very-long-pro\n", "a-very-long-program", true},
		{"no pane", markPS + "\n", "claude", false},
	}
	for _, tt := range tests {
		if got := parseReadyProbe(tt.out+markPane+"\nscreen\n", tt.want); got.running != tt.running || got.content != "screen\n" {
			t.Errorf("%s: got %+v, want running=%v with the content", tt.name, got, tt.running)
		}
	}
}

func TestAgentCommandLine(t *testing.T) {
	id := AgentID("agent-0123456789abcdef0123456789abcdef")
	const sid = "01234567-89ab-cdef-0123-456789abcdef"
	if got := ClaudeSessionID(id); got != sid {
		t.Errorf("ClaudeSessionID = %q, want %q", got, sid)
	}
	h := &Host{HostDir: "/h"}
	find := `( find "${CLAUDE_CONFIG_DIR:-$HOME/.claude}/projects" -name ` + sid + ".jsonl 2>/dev/null | grep -q . ) && "
	set := "--settings /h/agents/" + string(id) + "/claude-settings.json "
	tests := []struct {
		name, typ, command, want string
	}{
		{"claude", "claude", "claude", find + "claude " + set + "--resume " + sid + " || claude " + set + "--session-id " + sid},
		{"claude with args", "claude", "claude --model opus 'fix it'",
			find + "claude " + set + "--resume " + sid + " --model opus 'fix it' || claude " + set + "--session-id " + sid + " --model opus 'fix it'"},
		{"claude through a wrapper", "claude", "npx /opt/bin/claude -p",
			find + "npx /opt/bin/claude " + set + "--resume " + sid + " -p || npx /opt/bin/claude " + set + "--session-id " + sid + " -p"},
		{"codex unchanged", "codex", "codex --full-auto", "codex --full-auto"},
		{"command unchanged", "command", "claude --version", "claude --version"},
	}
	for _, tt := range tests {
		got := agentCommandLine(h, AgentRecord{ID: id, Type: tt.typ, Command: tt.command})
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("%s (-want +got)\n%s", tt.name, d)
		}
	}
}

// TestRemoteHostInstallsClaude runs the install on a fake remote host: a
// temp dir whose PATH (set in the host env file) holds fake apt-get, sudo
// and npm that record their arguments, and npm "installs" a claude shim.
// The real registry is not used: tests never reach the internet (and a real
// install takes minutes and changes the machine); the pinned package names,
// versions and the order of the steps are what this checks.
func TestRemoteHostInstallsClaude(t *testing.T) {
	isolatePaneTmux(t)
	ctx := context.Background()
	h := testHost(t)
	root := t.TempDir()
	bin, home, log := filepath.Join(root, "bin"), filepath.Join(root, "home"), filepath.Join(root, "calls")
	for _, d := range []string{bin, home, h.HostDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	for _, tool := range []string{"bash", "env", "id", "tail", "mkdir", "find", "grep", "cat", "chmod", "mv", "cksum", "sed", "head", "rm", "touch", "date"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			testenv.Missing(t, "%s not found", tool)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	q := ShellQuote
	chmod, err := exec.LookPath("chmod")
	if err != nil {
		t.Skip("chmod not found")
	}
	claudeShim := "#!/bin/sh\n[ \"$1\" = --version ] && { echo '" + ClaudeCodeVersion + " (Claude Code)'; exit 0; }\nprintf 'claude %s\\n' \"$*\" >> " + q(log) + "\ncat\n"
	npm := "#!/bin/sh\nprintf 'npm %s\\n' \"$*\" >> " + q(log) + "\nenv | grep -q sk-ant-never && echo 'npm saw the key' >> " + q(log) + "\nprintf '%s' " + q(claudeShim) + " > " + q(bin+"/claude") + " && " + chmod + " +x " + q(bin+"/claude") + "\n"
	files := map[string]string{
		"apt-get": "#!/bin/sh\nprintf 'apt-get %s\\n' \"$*\" >> " + q(log) + "\n" +
			"if [ \"$1\" = install ]; then printf '%s' " + q(npm) + " > " + q(bin+"/npm") + " && " + chmod + " +x " + q(bin+"/npm") + "; fi\n",
		"sudo": "#!/bin/sh\n[ \"$1\" = -n ] && shift\nexec \"$@\"\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(h.HostDir, "env"), []byte("PATH="+bin+"\nHOME="+home+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The agent's key must not reach the installer: npm logs a leak.
	rec, err := CreateAgent(ctx, h, "inst-", AgentSpec{Name: "c", Type: "claude", Command: "claude --model m", Env: []string{"ANTHROPIC_API_KEY=sk-ant-never-to-npm"}})
	if err != nil {
		t.Fatal(err)
	}
	stopAtEnd(t, h, "inst-", rec)
	// On this machine a missing CLI stays an error; nothing is installed.
	if err := StartAgent(ctx, h, "inst-", rec); !errors.Is(err, ErrUnavailable) || !strings.Contains(HintOf(err), "install the claude CLI") {
		t.Fatalf("local start without claude: err = %v (hint %q)", err, HintOf(err))
	}
	if _, err := os.Stat(log); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an installer ran for a host that is this machine (%v)", err)
	}

	h.Remote = true
	if err := StartAgent(ctx, h, "inst-", rec); err != nil {
		t.Fatal(err)
	}
	if err := WaitAgentReady(ctx, h, "inst-", rec, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	sid := ClaudeSessionID(rec.ID)
	waitLog := func(n int) []string {
		t.Helper()
		var lines []string
		for i := 0; i < 50; i++ {
			data, _ := os.ReadFile(log)
			lines = strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) >= n {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		return lines
	}
	want := []string{
		"apt-get update -qq",
		"apt-get install -y -qq --no-install-recommends nodejs npm",
		"npm install -g --no-fund --no-audit --no-update-notifier @anthropic-ai/claude-code@" + ClaudeCodeVersion,
		"claude --settings " + claudeSettingsFile(h, rec.ID) + " --session-id " + sid + " --model m",
	}
	if d := cmp.Diff(want, waitLog(len(want))); d != "" {
		t.Errorf("calls (-want +got)\n%s", d)
	}
	if err := SendMessage(ctx, h, "inst-", rec, "hi claude"); err != nil {
		t.Fatal(err)
	}
	waitPane(t, h, "inst-", rec, "hi claude\nhi claude")

	// Once claude has a transcript of the session, a restart resumes it.
	if err := StopAgent(ctx, h, "inst-", rec); err != nil {
		t.Fatal(err)
	}
	// The agent was made while h was this machine: no config dir of its own.
	proj := filepath.Join(home, ".claude", "projects", "p")
	if err := os.MkdirAll(proj, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, sid+".jsonl"), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := StartAgent(ctx, h, "inst-", rec); err != nil {
		t.Fatal(err)
	}
	want = append(want, "claude --settings "+claudeSettingsFile(h, rec.ID)+" --resume "+sid+" --model m")
	if d := cmp.Diff(want, waitLog(len(want))); d != "" {
		t.Errorf("calls after restart (-want +got)\n%s", d)
	}
}

func TestInstallFailureShowsLog(t *testing.T) {
	isolatePaneTmux(t)
	ctx := context.Background()
	h := testHost(t)
	h.Remote = true
	bin := t.TempDir()
	for _, tool := range []string{"env", "id", "tail", "mkdir"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			testenv.Missing(t, "%s not found", tool)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	npm := "#!/bin/sh\necho 'npm ERR! network unreachable'\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "npm"), []byte(npm), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(h.HostDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.HostDir, "env"), []byte("PATH="+bin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := CreateAgent(ctx, h, "fail-", AgentSpec{Name: "x", Type: "codex", Command: "codex"})
	if err != nil {
		t.Fatal(err)
	}
	err = StartAgent(ctx, h, "fail-", rec)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "network unreachable") ||
		!strings.Contains(err.Error(), "@openai/codex@"+CodexVersion) || !strings.Contains(HintOf(err), "install-codex.log") {
		t.Errorf("err = %v (hint %q), want the npm failure with its log", err, HintOf(err))
	}
}
