//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/azsim/vm/docker"
	"github.com/mngr-azure/mngr/internal/testenv"
)

// scriptedModel is a scripted stand-in of the Anthropic Messages API on
// this machine's loopback. A prompt that asks for "make the change" is
// answered with a Bash tool call that writes a file and commits it; the
// tool's result is answered with a closing text; anything else (claude's
// side requests, later prompts) with a short text. It streams as the real
// API does (server-sent events) when asked to.
type scriptedModel struct {
	addr      string
	delay     atomic.Int64 // nanoseconds before each answer
	toolCalls atomic.Int32 // tool calls sent
	results   atomic.Int32 // tool results received
	mu        sync.Mutex
	keys      map[string]bool // x-api-key values seen
}

// modelCommit is the commit message the scripted tool call makes.
const modelCommit = "claude: the scripted change"

func startScriptedModel(t *testing.T) *scriptedModel {
	t.Helper()
	m := &scriptedModel{keys: map[string]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(m.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	m.addr = ln.Addr().String()
	return m
}

func (m *scriptedModel) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/v1/messages") || strings.Contains(r.URL.Path, "count_tokens") {
		http.NotFound(w, r)
		return
	}
	m.mu.Lock()
	m.keys[r.Header.Get("x-api-key")] = true
	m.mu.Unlock()
	var req struct {
		Stream bool `json:"stream"`
		Tools  []struct {
			Name string `json:"name"`
		} `json:"tools"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil || len(req.Messages) == 0 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	select {
	case <-time.After(time.Duration(m.delay.Load())):
	case <-r.Context().Done():
		return
	}
	hasBash := false
	for _, tool := range req.Tools {
		hasBash = hasBash || tool.Name == "Bash"
	}
	last := req.Messages[len(req.Messages)-1]
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	var text string
	if json.Unmarshal(last.Content, &text) != nil {
		_ = json.Unmarshal(last.Content, &blocks)
	}
	toolResult := false
	for _, b := range blocks {
		text += b.Text
		toolResult = toolResult || b.Type == "tool_result"
	}
	switch {
	case toolResult:
		m.results.Add(1)
		m.answer(w, req.Stream, nil, "The change is committed.")
	case hasBash && strings.Contains(text, "make the change"):
		m.toolCalls.Add(1)
		input, _ := json.Marshal(map[string]string{
			"command":     "echo changed-by-claude > change.txt && git add change.txt && git commit -q -m '" + modelCommit + "'",
			"description": "Write change.txt and commit it",
		})
		m.answer(w, req.Stream, input, "I will make the change.")
	default:
		m.answer(w, req.Stream, nil, "scripted reply")
	}
}

// answer writes one assistant message: text, then a Bash tool call with
// input when input is set.
func (m *scriptedModel) answer(w http.ResponseWriter, stream bool, input json.RawMessage, text string) {
	quoted, _ := json.Marshal(text)
	stop := "end_turn"
	content := `[{"type":"text","text":` + string(quoted) + `}]`
	if input != nil {
		stop = "tool_use"
		content = `[{"type":"text","text":` + string(quoted) + `},{"type":"tool_use","id":"toolu_scripted_1","name":"Bash","input":` + string(input) + `}]`
	}
	if !stream {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"id":"msg_scripted","type":"message","role":"assistant","model":"claude-scripted","content":%s,"stop_reason":%q,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}`, content, stop)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	events := [][2]string{
		{"message_start", `{"type":"message_start","message":{"id":"msg_scripted","type":"message","role":"assistant","model":"claude-scripted","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}`},
		{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":` + string(quoted) + `}}`},
		{"content_block_stop", `{"type":"content_block_stop","index":0}`},
	}
	if input != nil {
		partial, _ := json.Marshal(string(input))
		events = append(events,
			[2]string{"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_scripted_1","name":"Bash","input":{}}}`},
			[2]string{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":` + string(partial) + `}}`},
			[2]string{"content_block_stop", `{"type":"content_block_stop","index":1}`})
	}
	events = append(events,
		[2]string{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"` + stop + `","stop_sequence":null},"usage":{"output_tokens":1}}`},
		[2]string{"message_stop", `{"type":"message_stop"}`})
	for _, ev := range events {
		_, _ = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev[0], ev[1])
	}
}

// sawKey says whether every request carried key and at least one came.
func (m *scriptedModel) sawKey(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys) == 1 && m.keys[key]
}

// claudeImageTar is the agent image tarball with the pinned claude baked in
// (scripts/agent-cli-image.sh): MNGR_AGENT_CLI_IMAGE_TAR, else images.env.
func claudeImageTar(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MNGR_AGENT_CLI_IMAGE_TAR"); p != "" {
		return p
	}
	b, err := os.ReadFile(filepath.Join(docker.ImagesCacheDir(os.Getenv), "images.env"))
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if p, ok := strings.CutPrefix(strings.TrimSpace(line), "MNGR_AGENT_CLI_IMAGE_TAR="); ok && p != "" {
				return p
			}
		}
	}
	testenv.Missing(t, "no agent image with the real claude (scripts/setup.sh installs claude, then scripts/images.sh builds it)")
	return ""
}

// reverseForward makes port on the agent container's loopback reach addr on
// this machine's loopback, through an ssh -R over the agent's own ssh
// endpoint (mngr ssh-config: the pinned host key and the container key), so
// the container reaches the scripted model and no packet leaves this
// machine. It returns once the forward answers inside the container.
func reverseForward(t *testing.T, j *journey, agent, addr string) {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	cfg := filepath.Join(j.dir, "..", "ssh_config_"+agent)
	j.must("ssh-config", agent, "--output", cfg)
	cmd := exec.CommandContext(context.Background(), "ssh", "-F", cfg, "-N", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
		"-o", "ServerAliveInterval=5", "-R", "127.0.0.1:"+port+":"+addr, agent+".mngr")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	probe := "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" + port + "/"
	for i := 0; i < 30; i++ {
		if out, _, err := j.mngr("exec", agent, probe); err == nil && strings.TrimSpace(out) == "404" {
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("the reverse forward to %s never answered in %s's container", addr, agent)
}

// TestClaudeOnAzsim is the real Claude Code (and then codex) on a simulated Azure VM, from a
// real repository, against a scripted model: the agent opens at its
// prompt with no dialog, its first message is confirmed and in its
// transcript, the model's tool call commits in the container, wait sees
// WAITING after it, git pull brings the commit back, a second message is
// confirmed (RUNNING while the model is slow), a stop and start resumes
// the session, and the API key shows in no output, JSON, ARM state or
// process list.
func TestClaudeOnAzsim(t *testing.T) {
	needDockerJourney(t, "the claude journey boots a real simulated VM")
	testenv.NeedTools(t, "git", "ssh")
	cliTar := claudeImageTar(t)
	if _, err := os.Stat(cliTar); err != nil {
		testenv.Missing(t, "the claude agent image %s is missing: %v (run scripts/images.sh)", cliTar, err)
	}
	vm := ""
	for _, kv := range journeyImages(t) {
		if v, ok := strings.CutPrefix(kv, "MNGR_AZSIM_VM_IMAGE="); ok {
			vm = v
		}
	}
	// This VM's baked image is the one with claude in it.
	t.Setenv("MNGR_AZSIM_VM_IMAGE", vm)
	t.Setenv("MNGR_AGENT_IMAGE_TAR", cliTar)
	model := startScriptedModel(t)
	j := startAzsimJourney(t, "docker")
	j.must("azure", "prepare")
	j.useDefaultTransfer()
	repo := journeyRepo(t, j)
	const key = "sk-ant-api03-mngrjourney0123456789abcdefghijklmnopqrstuvw"
	j.env = append(j.env, "ANTHROPIC_API_KEY="+key)
	// The user's claude settings, carried to the agent: Bash runs
	// without asking.
	home := j.envValue("HOME")
	if err := os.MkdirAll(filepath.Join(home, ".claude"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".claude", "settings.json"), []byte(`{"permissions":{"allow":["Bash"]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var outputs strings.Builder
	run := func(args ...string) string {
		t.Helper()
		out, errOut, err := j.mngr(args...)
		outputs.WriteString(out + errOut)
		if err != nil {
			t.Fatalf("mngr %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		return out
	}

	// A host first, so the model is reachable in its container before
	// claude starts there.
	var h0 struct {
		HostName string `json:"host_name"`
	}
	if err := json.Unmarshal([]byte(run("create", "h0", "--provider", "azure", "--transfer", "none", "--no-connect", "--format", "json")), &h0); err != nil {
		t.Fatal(err)
	}
	reverseForward(t, j, "h0", model.addr)

	// Besides its model, claude looks up api.anthropic.com and
	// raw.githubusercontent.com unless its non-essential traffic is off:
	// with it off, nothing it sends leaves this machine.
	baseURL := "ANTHROPIC_BASE_URL=http://" + model.addr
	var created struct {
		Branch           string `json:"branch"`
		MessageConfirmed *bool  `json:"message_confirmed"`
	}
	if err := json.Unmarshal([]byte(run("-v", "create", "c1", "claude", "--provider", "azure", "--host", h0.HostName, "--no-connect",
		"--pass-env", "ANTHROPIC_API_KEY", "--env", baseURL, "--env", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"-m", "make the change", "--format", "json")), &created); err != nil {
		t.Fatal(err)
	}
	if created.Branch != "mngr/c1" || created.MessageConfirmed == nil || !*created.MessageConfirmed {
		t.Errorf("create result: %+v", created)
	}
	if out := run("exec", "c1", "command -v claude; claude --version"); !strings.Contains(out, "/usr/local/bin/claude") {
		t.Errorf("claude in the container: %q", out)
	}
	screen := run("capture", "c1")
	for _, w := range []string{"trust", "Trust", "API key", "text style", "Choose", "Update available"} {
		if strings.Contains(screen, w) {
			t.Errorf("claude shows a first-run dialog (%q):\n%s", w, screen)
		}
	}
	userTurns := func() []string {
		t.Helper()
		var tr struct {
			Turns []struct {
				Text string `json:"text"`
			} `json:"turns"`
		}
		if err := json.Unmarshal([]byte(run("transcript", "c1", "--role", "user", "--format", "json")), &tr); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range tr.Turns {
			out = append(out, e.Text)
		}
		return out
	}
	if got := userTurns(); len(got) != 1 || got[0] != "make the change" {
		t.Errorf("transcript user turns = %q", got)
	}

	// The model's tool call commits in the container; then claude waits.
	run("wait", "c1", "--state", "WAITING", "--timeout", "180s")
	if model.toolCalls.Load() != 1 || model.results.Load() < 1 {
		t.Errorf("scripted model: %d tool calls, %d tool results", model.toolCalls.Load(), model.results.Load())
	}
	if !model.sawKey(key) {
		t.Error("the model did not get the key passed with --pass-env")
	}
	if out := run("transcript", "c1", "--role", "assistant"); !strings.Contains(out, "The change is committed.") {
		t.Errorf("assistant turns:\n%s", out)
	}
	run("git", "pull", "c1")
	if got := gitAt(t, repo, "log", "-1", "--format=%s", "mngr/c1"); got != modelCommit {
		t.Errorf("pulled mngr/c1 is at %q, want the model's commit", got)
	}
	if got := gitAt(t, repo, "show", "mngr/c1:change.txt"); got != "changed-by-claude" {
		t.Errorf("change.txt on mngr/c1: %q", got)
	}

	// While the model is slow, the agent is RUNNING; then WAITING.
	model.delay.Store(int64(20 * time.Second))
	var sent struct {
		Results []struct {
			Confirmed bool   `json:"confirmed"`
			Evidence  string `json:"evidence"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(run("message", "c1", "-m", "SECOND", "--format", "json")), &sent); err != nil {
		t.Fatal(err)
	}
	if len(sent.Results) != 1 || !sent.Results[0].Confirmed || sent.Results[0].Evidence != "transcript" {
		t.Errorf("message results: %+v", sent.Results)
	}
	if st := agentStateOf(t, run("list", "--format", "json"), "c1"); st != "RUNNING" {
		t.Errorf("while the model is slow: %s, want RUNNING", st)
	}
	run("wait", "c1", "--state", "WAITING", "--timeout", "120s")
	model.delay.Store(0)
	if st := agentStateOf(t, run("list", "--format", "json"), "c1"); st != "WAITING" {
		t.Errorf("after the answer: %s, want WAITING", st)
	}

	// Stopping both agents deallocates the VM; start boots it again and
	// claude resumes the same session.
	run("stop", "c1", "h0")
	if out := run("list", "--format", "json"); !strings.Contains(out, `"STOPPED"`) {
		t.Errorf("list after stop:\n%s", out)
	}
	run("start", "c1")
	reverseForward(t, j, "c1", model.addr)
	if screen := run("capture", "c1"); strings.Contains(screen, "trust") || strings.Contains(screen, "API key") {
		t.Errorf("claude after start shows a dialog:\n%s", screen)
	}
	run("message", "c1", "-m", "THIRD")
	if got := userTurns(); len(got) != 3 || got[0] != "make the change" || got[1] != "SECOND" || got[2] != "THIRD" {
		t.Errorf("after stop and start the transcript's user turns are %q", got)
	}
	run("wait", "c1", "--state", "WAITING", "--timeout", "120s")

	// codex on the same VM (baked in the same image): it opens at its
	// prompt with no dialog and its first message is confirmed in its
	// session record. Its model endpoint is a closed port of the container
	// (codex records the prompt before it calls), and a proxy at another
	// closed port keeps its other calls (tip, plugins, apps) from any DNS
	// lookup, so nothing leaves this machine.
	const openaiKey = "sk-mngrjourney-0123456789abcdefghijklmnop"
	j.env = append(j.env, "OPENAI_API_KEY="+openaiKey)
	run("create", "x1", "codex", "--provider", "azure", "--host", h0.HostName, "--transfer", "none", "--no-connect",
		"--pass-env", "OPENAI_API_KEY", "--env", "OPENAI_BASE_URL=http://127.0.0.1:9/v1",
		"--env", "HTTPS_PROXY=http://127.0.0.1:8", "--env", "HTTP_PROXY=http://127.0.0.1:8", "--env", "NO_PROXY=127.0.0.1,localhost",
		"-m", "hello codex")
	screen = run("capture", "x1")
	if !strings.Contains(screen, "›") {
		t.Errorf("codex is not at its prompt:\n%s", screen)
	}
	for _, w := range []string{"trust", "Trust", "Sign in", "API key", "Update available", "Choose"} {
		if strings.Contains(screen, w) {
			t.Errorf("codex shows a first-run dialog (%q):\n%s", w, screen)
		}
	}
	var xt struct {
		Turns []struct {
			Text string `json:"text"`
		} `json:"turns"`
	}
	if err := json.Unmarshal([]byte(run("transcript", "x1", "--role", "user", "--format", "json")), &xt); err != nil {
		t.Fatal(err)
	}
	if len(xt.Turns) != 1 || xt.Turns[0].Text != "hello codex" {
		t.Errorf("codex session record user turns: %+v", xt.Turns)
	}
	if out := run("exec", "x1", `readlink -f "$(command -v codex)"; grep '^openai_base_url' "$CODEX_HOME/config.toml"`); !strings.Contains(out, "/opt/codex/bin/codex") ||
		!strings.Contains(out, `openai_base_url = "http://127.0.0.1:9/v1"`) {
		t.Errorf("codex in the container and its endpoint: %q", out)
	}

	// The keys are in no output, ARM state, custom data or command line.
	for _, k := range []string{key, openaiKey} {
		if strings.Contains(outputs.String(), k) {
			t.Errorf("the API key %.12s… shows in mngr's output (-v, JSON or human)", k)
		}
		for _, f := range []string{"state.json", "requests.jsonl"} {
			if b, _ := os.ReadFile(filepath.Join(j.data, f)); strings.Contains(string(b), k) {
				t.Errorf("the API key %.12s… is in azsim's %s", k, f)
			}
		}
	}
	customData := 0
	walkAzsimState(t, j.data, func(obj map[string]any) {
		if s, ok := obj["customData"].(string); ok {
			customData++
			if b, err := base64.StdEncoding.DecodeString(s); err != nil || strings.Contains(string(b), key) || strings.Contains(string(b), openaiKey) {
				t.Errorf("custom data: the key is in it, or it does not decode (%v)", err)
			}
		}
	})
	if customData == 0 {
		t.Error("azsim's state holds no custom data to check")
	}
	ps, err := exec.CommandContext(context.Background(), "ps", "-eo", "args").Output()
	if err != nil || strings.Contains(string(ps), key) || strings.Contains(string(ps), openaiKey) {
		t.Errorf("ps on this machine: the key shows, or ps failed (%v)", err)
	}
	for _, c := range containersOf(t, j.data) {
		// The VM sees its own processes and its containers'.
		ps, err := exec.CommandContext(context.Background(), "docker", "exec", c, "ps", "-eo", "args").CombinedOutput()
		if err != nil || strings.Contains(string(ps), key) || strings.Contains(string(ps), openaiKey) || !strings.Contains(string(ps), "claude") || !strings.Contains(string(ps), "codex") {
			t.Errorf("ps on the VM: a key shows, claude or codex is missing, or ps failed (%v):\n%s", err, ps)
		}
	}

	run("destroy", "-f", "c1", "x1", "h0")
	run("gc")
	run("azure", "cleanup")
	j.checkNothingLeft()
}

// agentStateOf is the state of agent name in mngr list's JSON.
func agentStateOf(t *testing.T, listJSON, name string) string {
	t.Helper()
	var l struct {
		Agents []struct {
			Name  string `json:"name"`
			State string `json:"state"`
		} `json:"agents"`
	}
	if err := json.Unmarshal([]byte(listJSON), &l); err != nil {
		t.Fatal(err)
	}
	for _, a := range l.Agents {
		if a.Name == name {
			return a.State
		}
	}
	t.Fatalf("agent %s is not in mngr list: %s", name, listJSON)
	return ""
}
