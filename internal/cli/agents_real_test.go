package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/testenv"
)

// agentCLIDir is where the tests find the real agent CLIs at the versions
// mngr pins: MNGR_TEST_AGENT_CLIS, else the npm prefix scripts/setup.sh
// installs them into (~/.cache/mngr-agent-clis/node_modules/.bin). It is
// read before any test moves HOME.
var agentCLIDir = func() string {
	if d := os.Getenv("MNGR_TEST_AGENT_CLIS"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "mngr-agent-clis", "node_modules", ".bin")
}()

// requireAgentCLI puts the real CLI name (claude or codex) on PATH, after
// checking that it is the pinned version. Without it the test is skipped,
// or fails when MNGR_TEST_REQUIRE_ALL=1 (CI installs them:
// npm install --prefix ~/.cache/mngr-agent-clis @anthropic-ai/claude-code@VERSION @openai/codex@VERSION).
func requireAgentCLI(t *testing.T, name string) {
	t.Helper()
	requireTmux(t)
	bin := filepath.Join(agentCLIDir, name)
	pin := map[string]string{"claude": core.ClaudeCodeVersion, "codex": core.CodexVersion}[name]
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("the real %s CLI is not in %s (set MNGR_TEST_AGENT_CLIS, or install it: npm install --prefix ~/.cache/mngr-agent-clis %s)", name, agentCLIDir, core.AgentCLIPackage(name))
		testenv.Missing(t, "%s", msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil || !strings.Contains(string(out), pin) {
		t.Fatalf("%s --version = %q (%v), want the pinned %s", bin, out, err, pin)
	}
	t.Setenv("PATH", agentCLIDir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// messagesStandIn is a scripted stand-in of the Anthropic Messages API on
// loopback: every POST /v1/messages gets the text reply, after delay.
type messagesStandIn struct {
	url      string
	reply    string
	delay    atomic.Int64 // nanoseconds
	requests atomic.Int32
}

func startMessagesStandIn(t *testing.T, reply string) *messagesStandIn {
	t.Helper()
	s := &messagesStandIn{reply: reply}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.url = "http://" + ln.Addr().String()
	return s
}

func (s *messagesStandIn) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/v1/messages") || strings.Contains(r.URL.Path, "count_tokens") {
		http.NotFound(w, r)
		return
	}
	s.requests.Add(1)
	var req struct {
		Stream bool `json:"stream"`
	}
	body, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(body, &req)
	select {
	case <-time.After(time.Duration(s.delay.Load())):
	case <-r.Context().Done():
		return
	}
	text, _ := json.Marshal(s.reply)
	msg := `{"id":"msg_standin","type":"message","role":"assistant","model":"claude-standin","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}`
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"id":"msg_standin","type":"message","role":"assistant","model":"claude-standin","content":[{"type":"text","text":%s}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}`, text)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	events := [][2]string{
		{"message_start", `{"type":"message_start","message":` + msg + `}`},
		{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":` + string(text) + `}}`},
		{"content_block_stop", `{"type":"content_block_stop","index":0}`},
		{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":1}}`},
		{"message_stop", `{"type":"message_stop"}`},
	}
	for _, ev := range events {
		_, _ = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev[0], ev[1])
	}
}

// agentState is the agent's state in mngr list.
func (te *testEnv) agentState(name string) core.AgentState {
	te.t.Helper()
	te.mustRun("list", "--format", "json")
	var l struct {
		Agents []struct {
			Name  string          `json:"name"`
			State core.AgentState `json:"state"`
		} `json:"agents"`
	}
	te.jsonOut(&l)
	for _, a := range l.Agents {
		if a.Name == name {
			return a.State
		}
	}
	te.t.Fatalf("agent %s is not in mngr list: %s", name, te.out)
	return ""
}

// userTurns are the user turns of the agent's transcript.
func (te *testEnv) userTurns(name string) []string {
	te.t.Helper()
	te.mustRun("transcript", name, "--role", "user", "--format", "json")
	var tr struct {
		Turns []core.TranscriptEntry `json:"turns"`
	}
	te.jsonOut(&tr)
	var out []string
	for _, e := range tr.Turns {
		out = append(out, e.Text)
	}
	return out
}

// firstRunScreens are words of claude's and codex's first-run dialogs.
var firstRunScreens = []string{"trust", "Trust", "API key", "text style", "Sign in", "Update available", "Choose"}

func assertAtPrompt(t *testing.T, te *testEnv, name, prompt string) {
	t.Helper()
	screen := te.mustRun("capture", name)
	if !strings.Contains(screen, prompt) {
		t.Errorf("%s is not at its %q prompt; it shows:\n%s", name, prompt, screen)
	}
	for _, w := range firstRunScreens {
		if strings.Contains(screen, w) {
			t.Errorf("%s shows a first-run screen (%q):\n%s", name, w, screen)
		}
	}
}

const testAnthropicKey = "sk-ant-api03-mngrtest0123456789abcdefghijklmnopqrstuvwxyz"

// claudeQuiet keeps claude from the calls it makes besides its model
// (api.anthropic.com and raw.githubusercontent.com, looked up even with
// ANTHROPIC_BASE_URL set), so a test sends no DNS query off this machine.
const claudeQuiet = "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"

// TestClaudeRealCLILocal is the claude journey on this machine with the
// real CLI and a new HOME (no ~/.claude.json): the agent opens at its
// prompt, its messages are confirmed in its transcript, the hooks' states
// show in list, a stop and start resumes its session, a 100 KB line
// arrives whole, and the key shows nowhere.
func TestClaudeRealCLILocal(t *testing.T) {
	requireAgentCLI(t, "claude")
	api := startMessagesStandIn(t, "stand-in reply")
	te := newTestEnv(t)
	t.Cleanup(func() { te.run("stop", "c1") })
	te.env["ANTHROPIC_API_KEY"] = testAnthropicKey
	home := os.Getenv("HOME") // the agents' HOME (isolateTmux's)
	if _, err := os.Stat(filepath.Join(home, ".claude.json")); err == nil {
		t.Fatal("the test HOME already has a .claude.json")
	}
	out := te.mustRun("-v", "create", "c1", "claude", "--no-connect", "--pass-env", "ANTHROPIC_API_KEY",
		"--env", "ANTHROPIC_BASE_URL="+api.url, "--env", claudeQuiet, "-m", "FIRST `touch /tmp/never` $(id)")
	if !strings.Contains(out, "confirmed (seen in its transcript)") {
		t.Errorf("create -m did not report a confirmed message:\n%s", out)
	}
	if strings.Contains(out+te.errOut.String(), testAnthropicKey) {
		t.Error("the API key shows in create -v's output")
	}
	assertAtPrompt(t, te, "c1", "❯")
	if got := te.userTurns("c1"); len(got) != 1 || got[0] != "FIRST `touch /tmp/never` $(id)" {
		t.Errorf("transcript user turns = %q", got)
	}

	// The user's new .claude.json: onboarding done, the key approved by
	// its last 20 characters, the work dir trusted.
	var cj struct {
		HasCompletedOnboarding bool `json:"hasCompletedOnboarding"`
		Keys                   struct {
			Approved []string `json:"approved"`
		} `json:"customApiKeyResponses"`
		Projects map[string]struct {
			Trusted bool `json:"hasTrustDialogAccepted"`
		} `json:"projects"`
	}
	data, err := os.ReadFile(filepath.Join(home, ".claude.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &cj); err != nil {
		t.Fatal(err)
	}
	te.mustRun("list", "--format", "json")
	var l struct {
		Agents []struct {
			WorkDir string `json:"work_dir"`
		} `json:"agents"`
	}
	te.jsonOut(&l)
	if len(l.Agents) != 1 {
		t.Fatalf("list: %s", te.out)
	}
	wd, _ := filepath.EvalSymlinks(l.Agents[0].WorkDir)
	if !cj.HasCompletedOnboarding || len(cj.Keys.Approved) != 1 || cj.Keys.Approved[0] != testAnthropicKey[len(testAnthropicKey)-20:] || !cj.Projects[wd].Trusted {
		t.Errorf(".claude.json = %s", data)
	}
	if strings.Contains(string(data), testAnthropicKey) {
		t.Error(".claude.json holds the whole key")
	}

	// The stand-in answered: the Stop hook makes it WAITING.
	te.mustRun("wait", "c1", "--state", "WAITING", "--timeout", "60s")
	te.mustRun("transcript", "c1", "--role", "assistant")
	if !strings.Contains(te.out.String(), "stand-in reply") {
		t.Errorf("assistant turns: %s", te.out)
	}

	// While the model is slow to answer, the agent is RUNNING.
	api.delay.Store(int64(6 * time.Second))
	te.mustRun("message", "c1", "-m", "SECOND", "--format", "json")
	var res struct {
		Results []messageResult `json:"results"`
	}
	te.jsonOut(&res)
	if len(res.Results) != 1 || !res.Results[0].Confirmed || res.Results[0].Evidence != "transcript" {
		t.Errorf("message results = %+v", res.Results)
	}
	if st := te.agentState("c1"); st != core.AgentRunning {
		t.Errorf("while claude waits for the model: state %s, want RUNNING", st)
	}
	te.mustRun("wait", "c1", "--state", "WAITING", "--timeout", "60s")
	api.delay.Store(0)

	// A 100 KB single line arrives whole.
	big := strings.Repeat("0123456789", 10000)
	bigFile := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(bigFile, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	te.mustRun("message", "c1", "--message-file", bigFile)
	turns := te.userTurns("c1")
	if len(turns) != 3 || turns[2] != big {
		t.Errorf("after the 100 KB message: %d user turns, the last %d bytes", len(turns), len(turns[len(turns)-1]))
	}
	te.mustRun("wait", "c1", "--state", "WAITING", "--timeout", "60s")

	// Stop and start: claude resumes the same session.
	te.mustRun("stop", "c1")
	te.mustRun("start", "c1")
	te.mustRun("message", "c1", "-m", "THIRD", "--start")
	turns = te.userTurns("c1")
	if len(turns) != 4 || turns[0] != "FIRST `touch /tmp/never` $(id)" || turns[3] != "THIRD" {
		t.Errorf("after a restart the transcript's user turns are %d: %.40q", len(turns), turns)
	}
	if _, err := os.Stat("/tmp/never"); err == nil {
		t.Error("a message's backticks ran in a shell")
	}

	// The key is in no process's command line.
	ps, err := exec.CommandContext(context.Background(), "ps", "-eo", "args").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(ps), testAnthropicKey) {
		t.Error("the API key shows in ps")
	}
}

// TestMessageRefusedAndUnconfirmed: a message to an agent whose program
// exited is refused with the start command as the way out, and one that
// never shows is reported, with the pane's tail, as not confirmed.
func TestMessageRefusedAndUnconfirmed(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "gone", "command", "--", "true")
	marker := filepath.Join(t.TempDir(), "ran")
	var code ExitCode
	for i := 0; i < 50; i++ {
		if te.agentState("gone") == core.AgentDone {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	code = te.run("message", "gone", "-m", "touch "+marker)
	if code == 0 || !strings.Contains(te.errOut.String(), "mngr start gone") {
		t.Errorf("message to a DONE agent: exit %d, stderr %s", code, te.errOut)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Error("the message ran in the DONE agent's shell")
	}
	// mngr start brings a DONE agent's program back.
	te.mustRun("start", "gone")

	// A program that hides what is typed: nothing shows, nothing confirms.
	te.mustRun("create", "deaf", "command", "--", "sh", "-c", "stty -echo; sleep 600; exit 0")
	time.Sleep(500 * time.Millisecond)
	code = te.run("-S", "message_confirm_timeout=2", "message", "deaf", "-m", "can you hear me")
	if code == 0 || !strings.Contains(te.errOut.String(), "not confirmed") || !strings.Contains(te.errOut.String(), "its screen ends with") {
		t.Errorf("unconfirmed message: exit %d, stderr %s", code, te.errOut)
	}
}

// TestCodexRealCLILocal: a codex agent with a new HOME opens at its prompt
// with no dialog (work dir trusted, API-key login, no update check) and a
// message is confirmed in its session record.
func TestCodexRealCLILocal(t *testing.T) {
	requireAgentCLI(t, "codex")
	te := newTestEnv(t)
	t.Cleanup(func() { te.run("stop", "x1") })
	const key = "sk-mngrtest-0123456789abcdefghijklmnop"
	te.env["OPENAI_API_KEY"] = key
	// The model endpoint: a loopback listener that hangs up on every
	// connection (codex records the prompt before it calls) and counts them,
	// so the test sees that codex used OPENAI_BASE_URL.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var calls atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			calls.Add(1)
			_ = c.Close()
		}
	}()
	// codex also fetches a tip from raw.githubusercontent.com at start (no
	// setting turns that off) and, with its plugins and apps on, calls
	// chatgpt.com and api.github.com. A proxy at a closed loopback port
	// makes those fail without a DNS lookup, so no packet leaves this
	// machine; the model endpoint is reached directly (NO_PROXY).
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy := "http://" + closed.Addr().String()
	_ = closed.Close()
	out := te.mustRun("create", "x1", "codex", "--no-connect", "--pass-env", "OPENAI_API_KEY",
		"--env", "OPENAI_BASE_URL=http://"+ln.Addr().String()+"/v1", "--env", "HTTPS_PROXY="+proxy, "--env", "HTTP_PROXY="+proxy,
		"--env", "NO_PROXY=127.0.0.1,localhost", "-m", "hello codex")
	if !strings.Contains(out, "confirmed (seen in its session record)") {
		t.Errorf("create -m did not report a confirmed message:\n%s", out)
	}
	assertAtPrompt(t, te, "x1", "›")
	if got := te.userTurns("x1"); len(got) != 1 || got[0] != "hello codex" {
		t.Errorf("session record user turns = %q", got)
	}
	for i := 0; i < 100 && calls.Load() == 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if calls.Load() == 0 {
		t.Error("codex never called the OPENAI_BASE_URL endpoint")
	}
	// Without a model codex stays busy with the first turn and only queues
	// a new message (it is confirmed once codex submits it); a restarted
	// codex is idle at its prompt and records it at once.
	te.mustRun("stop", "x1")
	te.mustRun("start", "x1")
	te.mustRun("message", "x1", "-m", "second for codex", "--start")
	if got := te.userTurns("x1"); len(got) != 2 || got[1] != "second for codex" {
		t.Errorf("session record user turns = %q", got)
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("HOME"), ".codex")); err == nil {
		t.Error("the agent wrote the user's ~/.codex instead of its own CODEX_HOME")
	}
}

// TestClaudeRealCLIRemoteConfigDir: on a remote host (fakecloud's hosts
// count as remote here) a claude agent gets its own CLAUDE_CONFIG_DIR,
// 0700, seeded so it opens at its prompt, with the user's settings and
// theme but not their account; their login is copied (0600) only with
// --copy-claude-credentials; the user's own files stay as they were.
func TestClaudeRealCLIRemoteConfigDir(t *testing.T) {
	requireAgentCLI(t, "claude")
	api := startMessagesStandIn(t, "remote reply")
	te := newTestEnv(t)
	te.cloud.remote = true
	t.Cleanup(func() { te.run("stop", "r1"); te.run("stop", "r2") })
	te.env["ANTHROPIC_API_KEY"] = testAnthropicKey
	home := os.Getenv("HOME")
	userJSON := `{"theme":"light-daltonized","oauthAccount":{"emailAddress":"me@example.com"},"primaryApiKey":"sk-ant-secret-of-the-user"}`
	userSettings := `{"env":{"MNGR_TEST_SETTING":"kept"}}`
	userCreds := `{"claudeAiOauth":{"accessToken":"sk-ant-oat01-user-login"}}`
	for p, c := range map[string]string{".claude.json": userJSON, ".claude/settings.json": userSettings, ".claude/.credentials.json": userCreds} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(home, p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, p), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := te.mustRun("create", "-v", "r1", "claude", "--provider", "fakecloud", "--no-connect", "--pass-env", "ANTHROPIC_API_KEY",
		"--env", "ANTHROPIC_BASE_URL="+api.url, "--env", claudeQuiet, "--copy-claude-credentials", "-m", "remote first", "--format", "json")
	var cr createResult
	if err := json.Unmarshal([]byte(out), &cr); err != nil {
		t.Fatalf("create json: %v\n%s", err, out)
	}
	if cr.MessageConfirmed == nil || !*cr.MessageConfirmed || strings.Contains(out, "sk-ant-") {
		t.Errorf("create json = %s", out)
	}
	if strings.Contains(te.errOut.String(), "sk-ant-") || strings.Contains(te.errOut.String(), "user-login") {
		t.Errorf("a key or the login shows in create -v's log:\n%s", te.errOut)
	}
	assertAtPrompt(t, te, "r1", "❯")
	if got := te.userTurns("r1"); len(got) != 1 || got[0] != "remote first" {
		t.Errorf("transcript user turns = %q", got)
	}
	te.mustRun("wait", "r1", "--state", "WAITING", "--timeout", "60s")

	var hostDir string
	for _, h := range te.cloud.hosts {
		hostDir = h.dir
	}
	dir := filepath.Join(hostDir, "agents", string(cr.AgentID), "claude-config")
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("config dir %s: %v %v", dir, st, err)
	}
	var seeded map[string]any
	data, _ := os.ReadFile(filepath.Join(dir, ".claude.json"))
	if err := json.Unmarshal(data, &seeded); err != nil {
		t.Fatalf("seeded .claude.json: %v\n%s", err, data)
	}
	if seeded["theme"] != "light-daltonized" || seeded["hasCompletedOnboarding"] != true || seeded["oauthAccount"] != nil || seeded["primaryApiKey"] != nil {
		t.Errorf("seeded .claude.json = %s", data)
	}
	// claude may add to its settings (it moves the theme there), but the
	// user's own are carried over.
	var set struct {
		Env map[string]string `json:"env"`
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "settings.json")); json.Unmarshal(b, &set) != nil || set.Env["MNGR_TEST_SETTING"] != "kept" {
		t.Errorf("settings.json = %q, want the user's", b)
	}
	cst, err := os.Stat(filepath.Join(dir, ".credentials.json"))
	if b, _ := os.ReadFile(filepath.Join(dir, ".credentials.json")); err != nil || string(b) != userCreds || cst.Mode().Perm() != 0o600 {
		t.Errorf("credentials copy: %v %q", err, b)
	}
	if b, _ := os.ReadFile(filepath.Join(home, ".claude.json")); string(b) != userJSON {
		t.Errorf("the user's .claude.json changed: %s", b)
	}
	// The login is in no record, env file or tag mngr keeps.
	for _, p := range []string{"data.json", "env"} {
		if b, _ := os.ReadFile(filepath.Join(hostDir, "agents", string(cr.AgentID), p)); strings.Contains(string(b), "user-login") {
			t.Errorf("%s holds the claude login", p)
		}
	}

	// Without the flag no login is copied.
	te.mustRun("create", "r2", "claude", "--provider", "fakecloud", "--host", te.cloud.hosts[cr.HostID].dh.Name, "--no-connect",
		"--pass-env", "ANTHROPIC_API_KEY", "--env", "ANTHROPIC_BASE_URL="+api.url, "--env", claudeQuiet, "--format", "json")
	var cr2 createResult
	te.jsonOut(&cr2)
	if _, err := os.Stat(filepath.Join(hostDir, "agents", string(cr2.AgentID), "claude-config", ".credentials.json")); err == nil {
		t.Error("a login was copied without --copy-claude-credentials")
	}
}
