package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/provider/local"
)

// writeTestFile writes body to p, making its directory.
func writeTestFile(t *testing.T, p, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// agentRecordOf reads the data.json of the one agent named name under the
// host dir.
func agentRecordOf(t *testing.T, hostDir, name string) core.AgentRecord {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(hostDir, "agents", "*", "data.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rec core.AgentRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Name == name {
			return rec
		}
	}
	t.Fatalf("no agent %s under %s", name, hostDir)
	return core.AgentRecord{}
}

// execOut runs `mngr exec AGENT -- sh -c SCRIPT` and returns its stdout.
func (te *testEnv) execOut(agent, script string) string {
	te.t.Helper()
	return strings.TrimSpace(te.mustRun("exec", agent, script))
}

func TestCreateTemplatesMergeInOrderAndFlagsWin(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	if err := os.MkdirAll(filepath.Join(te.cwd, ".git"), 0o750); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(te.env["HOME"], ".mngr", "settings.toml"), `
[commands.create]
type = "command"
label = ["from=commands"]
no_connect = true

[create_templates.a]
label = ["team=a"]
env = ["X=a", "Z=a"]
command = "sleep 61"

[create_templates.b]
env = ["X=b"]
`)
	// The local file adds a key to template a (same-named templates merge
	// key by key), and is trusted.
	localFile := filepath.Join(te.cwd, ".mngr", "settings.local.toml")
	writeTestFile(t, localFile, "[create_templates.a]\nhost_env = [\"H=local\"]\n")
	te.mustRun("config", "trust", localFile)

	te.mustRun("create", "t1", "-t", "a", "--template", "b", "--env", "Y=typed")
	rec := agentRecordOf(t, te.env["MNGR_HOST_DIR"], "t1")
	if rec.Type != "command" || rec.Command != "sleep 61" {
		t.Errorf("type/command = %q/%q, want command from [commands.create] and the command of template a", rec.Type, rec.Command)
	}
	if rec.Labels["team"] != "a" || rec.Labels["from"] != "" {
		t.Errorf("labels = %v: template a's label list replaces the [commands.create] default", rec.Labels)
	}
	// --env typed on the command line wins over both templates.
	if got := te.execOut("t1", `echo "X=$X Y=$Y Z=$Z H=$H"`); got != "X= Y=typed Z= H=local" {
		t.Errorf("env = %q", got)
	}

	// Without --env, template b (later) wins over a for env.
	te.mustRun("create", "t2", "-t", "a", "-t", "b")
	if got := te.execOut("t2", `echo "X=$X Z=$Z"`); got != "X=b Z=" {
		t.Errorf("env of t2 = %q, want template b's list", got)
	}
}

func TestCreateTemplateErrors(t *testing.T) {
	tests := []struct {
		name     string
		settings string
		args     []string
		want     []string
	}{
		{name: "unknown key in a template names the file",
			settings: "[create_templates.a]\nnot_a_flag = 1\n",
			args:     []string{"create", "x", "command", "-t", "a"},
			want:     []string{"create_templates.a.not_a_flag", "settings.toml", "has no flag --not-a-flag"}},
		{name: "template cannot name templates",
			settings: "[create_templates.a]\ntemplate = [\"b\"]\n",
			args:     []string{"create", "x", "command", "-t", "a"},
			want:     []string{"create_templates.a.template", "settings.toml"}},
		{name: "wrong value type",
			settings: "[create_templates.a]\nreuse = \"yes\"\n",
			args:     []string{"create", "x", "command", "-t", "a"},
			want:     []string{"create_templates.a.reuse", "want true or false"}},
		{name: "unknown template",
			settings: "[create_templates.a]\nreuse = true\n",
			args:     []string{"create", "x", "command", "-t", "nope"},
			want:     []string{`no create template named "nope"`, "the templates are: a"}},
		{name: "unknown key in commands names the file",
			settings: "[commands.list]\nsideways = true\n",
			args:     []string{"list"},
			want:     []string{"commands.list.sideways", "settings.toml", "mngr list has no flag --sideways"}},
		{name: "bad template name",
			settings: "[create_templates.\"a.b\"]\nreuse = true\n",
			args:     []string{"list"},
			want:     []string{`invalid template name "a.b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := newTestEnv(t)
			writeTestFile(t, filepath.Join(te.env["HOME"], ".mngr", "settings.toml"), tt.settings)
			if code := te.run(tt.args...); code != ExitUsage {
				t.Fatalf("exit = %d, want %d; stderr %s", code, ExitUsage, te.errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(te.errOut.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, te.errOut)
				}
			}
		})
	}
}

func TestCommandDefaultsForOtherVerbs(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	// A bool (destroy's force) and a repeatable flag (exec's agent).
	writeTestFile(t, filepath.Join(te.env["HOME"], ".mngr", "settings.toml"), `
[commands.destroy]
force = true

[commands.exec]
agent = ["d1"]
`)
	te.mustRun("create", "d1", "command", "--", "sleep", "60")
	if got := strings.TrimSpace(te.mustRun("exec", "echo $MNGR_AGENT_NAME")); got != "d1" {
		t.Errorf("exec with [commands.exec] agent = %q, want d1", got)
	}
	// Without force from the settings, a running agent is not destroyed
	// without a terminal to ask on.
	te.mustRun("destroy", "d1")
	if files, _ := filepath.Glob(filepath.Join(te.env["MNGR_HOST_DIR"], "agents", "*", "data.json")); len(files) != 0 {
		t.Errorf("agent records left: %v", files)
	}
	// A flag typed on the command line wins over the setting.
	te.mustRun("create", "d2", "command", "--", "sleep", "60")
	if code := te.run("destroy", "d2", "--force=false"); code == 0 {
		t.Errorf("destroy --force=false of a running agent succeeded; stderr %s", te.errOut)
	}
}

func TestHostileRepoTemplatesAndCommandsAreNotApplied(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(te.cwd, ".git"), 0o750); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(outside, "ran")
	project := filepath.Join(te.cwd, ".mngr", "settings.toml")
	writeTestFile(t, project, `
[commands.create]
type = "command"
provider = "fakecloud"
extra_provision_command = ["touch `+marker+`"]
post_host_create_outer_command = ["touch `+marker+`"]

[create_templates.default]
provider = "fakecloud"
host = "attacker-host"
extra_provision_command = ["touch `+marker+`"]
`)
	// A template defined only in the untrusted file is refused, naming it.
	if code := te.run("create", "h1", "command", "-t", "default", "--", "sleep", "60"); code != ExitUsage {
		t.Fatalf("exit = %d, want %d; stderr %s", code, ExitUsage, te.errOut)
	}
	for _, w := range []string{`create template "default" is defined in ` + project, "not trusted", "mngr config trust"} {
		if !strings.Contains(te.errOut.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, te.errOut)
		}
	}
	// [commands.create] from the untrusted file: only type applies; the
	// provider and the commands are ignored (and named on stderr).
	te.mustRun("create", "h2", "--", "sleep", "60")
	if len(te.cloud.requests) != 0 {
		t.Errorf("the untrusted file chose the provider: %d CreateHost calls", len(te.cloud.requests))
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a command from the untrusted file ran")
	}
	for _, w := range []string{"commands.create.extra_provision_command", "commands.create.provider", "create_templates.default.host"} {
		if !strings.Contains(te.errOut.String(), w) {
			t.Errorf("trust notice lacks %q:\n%s", w, te.errOut)
		}
	}
	if rec := agentRecordOf(t, te.env["MNGR_HOST_DIR"], "h2"); rec.Type != "command" {
		t.Errorf("type = %q, want the allowed commands.create.type", rec.Type)
	}
}

func TestCreateSetupOnLocal(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	src := filepath.Join(t.TempDir(), "conf.txt")
	if err := os.WriteFile(src, []byte("uploaded\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(t.TempDir(), "host.env")
	writeTestFile(t, envFile, "# host\nFROM_FILE=file\n")
	te.env["PASSED"] = "passed-value"
	abs := filepath.Join(te.env["HOME"], "abs", "up.txt")
	// A directory: nested files keep their modes, a symlink stays one.
	tree := t.TempDir()
	writeTestFile(t, filepath.Join(tree, "deep", "run.sh"), "#!/bin/sh\necho ran\n")
	if err := os.Chmod(filepath.Join(tree, "deep", "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("deep/run.sh", filepath.Join(tree, "go.sh")); err != nil {
		t.Fatal(err)
	}
	te.mustRun("create", "s1", "command",
		"--upload-file", src+":sub/conf.txt", "--upload-file", src+":"+abs, "--upload-file", tree+":tree",
		"--extra-provision-command", "./tree/go.sh > prov3",
		"--extra-provision-command", "cat sub/conf.txt > prov1",
		"--extra-provision-command", `echo "$H1 $FROM_FILE $PASSED" > prov2`,
		"--host-env", "H1=one", "--host-env-file", envFile, "--pass-host-env", "PASSED",
		"--post-host-create-command", "touch should-not-run",
		"--post-host-create-outer-command", "touch should-not-run",
		"-w", "side=sleep 77", "--", "sleep", "60")
	rec := agentRecordOf(t, te.env["MNGR_HOST_DIR"], "s1")
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if got := read(filepath.Join(rec.WorkDir, "prov1")); got != "uploaded" {
		t.Errorf("prov1 = %q", got)
	}
	if got := read(filepath.Join(rec.WorkDir, "prov2")); got != "one file passed-value" {
		t.Errorf("prov2 = %q (host env in provision commands)", got)
	}
	if got := read(filepath.Join(rec.WorkDir, "prov3")); got != "ran" {
		t.Errorf("prov3 = %q (an uploaded directory's script through its symlink)", got)
	}
	if link, err := os.Readlink(filepath.Join(rec.WorkDir, "tree", "go.sh")); err != nil || link != "deep/run.sh" {
		t.Errorf("uploaded symlink = %q, %v", link, err)
	}
	if got := read(abs); got != "uploaded" {
		t.Errorf("absolute upload = %q", got)
	}
	if st, err := os.Stat(abs); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("upload mode = %v, %v; want 0640", st.Mode(), err)
	}
	// The host env is the host's: another agent on it has it too.
	te.mustRun("create", "s2", "command", "--", "sleep", "60")
	if got := te.execOut("s2", `echo "$H1 $PASSED"`); got != "one passed-value" {
		t.Errorf("host env in another agent = %q", got)
	}
	// The local host is not new and has no outer machine: both skipped.
	if _, err := os.Stat(filepath.Join(rec.WorkDir, "should-not-run")); err == nil {
		t.Error("a post-host-create command ran on an existing host")
	}
	if d := cmp.Diff([]core.WindowCommand{{WindowName: "side", Command: "sleep 77"}}, rec.AdditionalCommands); d != "" {
		t.Errorf("windows (-want +got)\n%s", d)
	}
	out, err := runTmux("list-windows", "-t", "="+te.env["MNGR_PREFIX"]+"s1", "-F", "#{window_name}")
	if err != nil || !strings.Contains(out, "side") {
		t.Errorf("tmux windows = %q, %v", out, err)
	}
}

func runTmux(args ...string) (string, error) {
	out, err := exec.CommandContext(context.Background(), "tmux", args...).Output()
	return string(out), err
}

func TestCreateSetupWarnsWhatItSkips(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "w1", "command", "--post-host-create-command", "true", "--post-host-create-outer-command", "true", "--", "sleep", "60")
	if !strings.Contains(te.errOut.String(), "already existed: the post-host-create commands were not run") {
		t.Errorf("stderr lacks the skip warning:\n%s", te.errOut)
	}
}

func TestCreateProvisionFailureUndoesTheCreate(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	code := te.run("create", "f1", "command", "--extra-provision-command", "echo first-line; echo the-reason >&2; exit 7", "--", "sleep", "60")
	if code != ExitError {
		t.Fatalf("exit = %d, want 1; stderr %s", code, te.errOut)
	}
	for _, w := range []string{"extra provision command 1 of 1", "failed (exit 7)", "the-reason", "first-line"} {
		if !strings.Contains(te.errOut.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, te.errOut)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(te.env["MNGR_HOST_DIR"], "agents", "*", "data.json")); len(files) != 0 {
		t.Errorf("agent records left after the failed create: %v", files)
	}
	// The name is free again.
	te.mustRun("create", "f1", "command", "--", "sleep", "60")
}

func TestCreateSetupBadInput(t *testing.T) {
	te := newTestEnv(t)
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--upload-file", "nocolon"}, "write --upload-file LOCAL:REMOTE"},
		{[]string{"--upload-file", filepath.Join(dir, "missing") + ":x"}, "no such file on this machine"},
		{[]string{"--upload-file", fifoDir(t) + ":x"}, "which is not uploaded"},
		{[]string{"--extra-provision-command", " "}, "--extra-provision-command is empty"},
		{[]string{"--post-host-create-command", ""}, "--post-host-create-command is empty"},
		{[]string{"--post-host-create-outer-command", ""}, "--post-host-create-outer-command is empty"},
		{[]string{"--host-env", "1BAD=x"}, `invalid environment entry "1BAD=…"`},
		{[]string{"--host-env-file", filepath.Join(dir, "none.env")}, "--host-env-file"},
		{[]string{"--pass-host-env", "MNGR_TEST_UNSET_VAR"}, "MNGR_TEST_UNSET_VAR is not set"},
		{[]string{"-w", "noequals"}, "write -w NAME=COMMAND"},
		{[]string{"-w", "bad.name=ls"}, `invalid window name "bad.name"`},
		{[]string{"-w", "a=ls", "-w", "a=pwd"}, "--extra-window a given twice"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := append([]string{"create", "b1", "command"}, tt.args...)
			if code := te.run(append(args, "--", "true")...); code != ExitUsage {
				t.Fatalf("exit = %d, want %d; stderr %s", code, ExitUsage, te.errOut)
			}
			if !strings.Contains(te.errOut.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, te.errOut)
			}
		})
	}
}

// outerCloud is fakeCloud with an outer machine per host: a directory
// beside the host's, where RunOuter runs scripts.
type outerCloud struct{ *fakeCloud }

var _ core.OuterHostRunner = outerCloud{}

func (c outerCloud) outerDir(id core.HostID) string {
	return filepath.Join(c.root, "outer-"+string(id))
}

func (c outerCloud) RunOuter(ctx context.Context, id core.HostID, script string, opts core.RunOptions) (core.RunResult, error) {
	if err := os.MkdirAll(c.outerDir(id), 0o750); err != nil {
		return core.RunResult{}, err
	}
	return local.Executor{Dir: c.outerDir(id)}.Run(ctx, script, opts)
}

func TestCreateSetupOnNewHost(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	oc := outerCloud{te.cloud}
	te.reg.Register(core.Backend{Name: "outercloud", DefaultInstance: true, New: func(context.Context, string, core.Settings, core.Env) (core.Provider, error) {
		return oc, nil
	}})
	inner := filepath.Join(t.TempDir(), "inner-ran")
	te.mustRun("create", "n1", "command", "--provider", "outercloud", "--host-env", "HE=1",
		"--post-host-create-outer-command", "echo outer > outer-ran",
		"--post-host-create-command", `echo "inner $HE" > `+inner,
		"--format", "json", "--", "sleep", "60")
	var res createResult
	te.jsonOut(&res)
	b, err := os.ReadFile(filepath.Join(oc.outerDir(res.HostID), "outer-ran"))
	if err != nil || strings.TrimSpace(string(b)) != "outer" {
		t.Errorf("outer command: %q, %v", b, err)
	}
	// The inner command ran once, in the new host, with the host env.
	if b, err := os.ReadFile(inner); err != nil || strings.TrimSpace(string(b)) != "inner 1" {
		t.Errorf("inner command: %q, %v", b, err)
	}
	// A failing outer command undoes the new host.
	hosts := len(te.cloud.hosts)
	if code := te.run("create", "n2", "command", "--provider", "outercloud", "--post-host-create-outer-command", "exit 3", "--", "sleep", "60"); code != ExitError {
		t.Fatalf("exit = %d; stderr %s", code, te.errOut)
	}
	if !strings.Contains(te.errOut.String(), "post-host-create outer command 1 of 1 on the machine around host") {
		t.Errorf("stderr:\n%s", te.errOut)
	}
	if len(te.cloud.hosts) != hosts {
		t.Errorf("hosts = %d, want %d (the new host removed)", len(te.cloud.hosts), hosts)
	}
	// A provider without an outer machine warns and goes on.
	te.mustRun("create", "n3", "command", "--provider", "fakecloud", "--post-host-create-outer-command", "true", "--", "sleep", "60")
	if !strings.Contains(te.errOut.String(), "has no machine outside its hosts: --post-host-create-outer-command skipped") {
		t.Errorf("stderr lacks the skip warning:\n%s", te.errOut)
	}
}

func TestCreateReuse(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "r1", "command", "--label", "team=a", "--", "sleep", "60")
	first := agentRecordOf(t, te.env["MNGR_HOST_DIR"], "r1")
	// Without --reuse the name is taken.
	if code := te.run("create", "r1", "command", "--", "sleep", "60"); code == 0 {
		t.Fatal("a second create of r1 succeeded")
	}
	out := te.mustRun("create", "r1", "command", "--reuse", "--label", "team=b", "--", "sleep", "60")
	if !strings.Contains(out, "Kept the existing agent r1 ("+string(first.ID)+")") || !strings.Contains(out, "already running") {
		t.Errorf("stdout = %q", out)
	}
	if !strings.Contains(te.errOut.String(), "label team=b") {
		t.Errorf("no mismatch warning:\n%s", te.errOut)
	}
	te.mustRun("create", "r1", "command", "--reuse", "--format", "json", "--", "sleep", "60")
	var res createResult
	te.jsonOut(&res)
	if !res.Reused || res.Started || res.AgentID != first.ID {
		t.Errorf("result = %+v, want the running agent %s kept", res, first.ID)
	}
	te.mustRun("stop", "r1")
	// A dry run says what --reuse would do and changes nothing.
	te.mustRun("create", "r1", "command", "--reuse", "--dry-run", "--label", "team=c", "--format", "json", "--", "sleep", "60")
	var plan reusePlan
	te.jsonOut(&plan)
	if !plan.DryRun || !plan.Reused || !plan.WouldStart || plan.AgentID != first.ID || plan.State != core.AgentStopped ||
		len(plan.Mismatches) != 1 || !strings.Contains(plan.Mismatches[0], "label team=c") {
		t.Errorf("dry run of --reuse = %+v", plan)
	}
	if out := te.mustRun("list", "--fields", "name,state"); !strings.Contains(out, "STOPPED") {
		t.Errorf("the dry run started the agent:\n%s", out)
	}
	te.mustRun("create", "r1", "command", "--reuse", "--format", "json", "--", "sleep", "60")
	res = createResult{}
	te.jsonOut(&res)
	if !res.Reused || !res.Started {
		t.Errorf("result = %+v, want the stopped agent started", res)
	}
	// --reuse of a name nobody has creates the agent.
	te.mustRun("create", "r2", "command", "--reuse", "--", "sleep", "60")
	agentRecordOf(t, te.env["MNGR_HOST_DIR"], "r2")
}

func TestCreateDryRunShowsSetup(t *testing.T) {
	te := newTestEnv(t)
	src := filepath.Join(t.TempDir(), "f.txt")
	writeTestFile(t, src, "x")
	before := filesUnder(t, te.env["HOME"])
	out := te.mustRun("create", "w1", "command", "--dry-run",
		"--post-host-create-outer-command", "outer-cmd", "--post-host-create-command", "inner-cmd",
		"--host-env", "SECRET=hunter2", "--upload-file", src+":dst.txt",
		"--extra-provision-command", "prov-cmd", "-w", "side=side-cmd", "--", "sleep", "100")
	for _, w := range []string{
		"post-host-create outer command skipped (the host already exists, and the provider has no machine outside it): outer-cmd",
		"post-host-create command skipped (the host already exists): inner-cmd",
		"host env SECRET would be set (value not shown)",
		"upload " + src + " to dst.txt",
		"extra provision command, run in the work dir before the agent starts: prov-cmd",
		"extra tmux window side: side-cmd",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("dry run lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Error("the dry run shows a host env value")
	}
	if d := cmp.Diff(before, filesUnder(t, te.env["HOME"])); d != "" {
		t.Errorf("dry run changed files (-before +after)\n%s", d)
	}
}

func TestPositionalTypeWinsOverTheSetting(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	writeTestFile(t, filepath.Join(te.env["HOME"], ".mngr", "settings.toml"),
		"[agent_types.sleeper]\ncommand = \"sleep 99\"\n\n[commands.create]\ntype = \"sleeper\"\n")
	te.mustRun("create", "p1", "command", "--", "sleep", "60")
	if rec := agentRecordOf(t, te.env["MNGR_HOST_DIR"], "p1"); rec.Type != "command" || rec.Command != "sleep 60" {
		t.Errorf("type/command = %s/%q, want the positional type", rec.Type, rec.Command)
	}
	te.mustRun("create", "p2")
	if rec := agentRecordOf(t, te.env["MNGR_HOST_DIR"], "p2"); rec.Type != "sleeper" || rec.Command != "sleep 99" {
		t.Errorf("type/command = %s/%q, want the setting's", rec.Type, rec.Command)
	}
	if code := te.run("create", "p3", "command", "--type", "sleeper"); code != ExitUsage || !strings.Contains(te.errOut.String(), "type given twice") {
		t.Errorf("typed --type and a positional type: exit %d, %s", code, te.errOut)
	}
}

// fifoDir is a directory holding a named pipe, which --upload-file refuses.
func fifoDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCommandDefaultsForASubcommand: [commands."git pull"] sets a flag of
// the subcommand mngr git pull (what the user types wins), and the dotted
// form [commands.git.pull] is refused with the table to write instead.
func TestCommandDefaultsForASubcommand(t *testing.T) {
	te := newTestEnv(t)
	settings := filepath.Join(te.env["HOME"], ".mngr", "settings.toml")
	writeTestFile(t, settings, "[commands.\"git pull\"]\nmerge = true\n")
	merge := func(args ...string) bool {
		t.Helper()
		root := NewRootCmd(te.f)
		cmd, _, err := root.Find([]string{"git", "pull"})
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		if err := applyConfiguredFlags(te.f, cmd); err != nil {
			t.Fatal(err)
		}
		v, err := cmd.Flags().GetBool("merge")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if !merge() {
		t.Error(`[commands."git pull"] merge = true did not set mngr git pull --merge`)
	}
	if merge("--merge=false") {
		t.Error("the settings won over --merge=false typed on the command line")
	}
	writeTestFile(t, settings, "[commands.git.pull]\nmerge = true\n")
	if code := te.run("list"); code != ExitUsage || !strings.Contains(te.errOut.String(), `write a table [commands."git pull"]`) {
		t.Errorf("[commands.git.pull]: exit %d, stderr %s", code, te.errOut)
	}
}
