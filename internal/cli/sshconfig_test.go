package cli

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/testenv"
)

func TestSpliceMarkedBlock(t *testing.T) {
	block1 := sshConfigBegin + "\nHost a.mngr\n    Port 1\n" + sshConfigEnd + "\n"
	block2 := sshConfigBegin + "\nHost b.mngr\n    Port 2\n" + sshConfigEnd + "\n"
	before := "Host work\n    HostName work.example\n"
	after := "\nHost *\n    ServerAliveInterval 30\n"

	got, err := spliceMarkedBlock("", block1)
	if err != nil || got != block1 {
		t.Fatalf("empty file: %q, %v", got, err)
	}
	// Appended after other content (even without a final newline).
	got, err = spliceMarkedBlock(strings.TrimSuffix(before, "\n"), block1)
	if err != nil || got != before+"\n"+block1 {
		t.Fatalf("append: %q, %v", got, err)
	}
	// Replaced in the middle, with the lines around it kept byte for byte.
	mid := before + block1 + after
	got, err = spliceMarkedBlock(mid, block2)
	if err != nil || got != before+block2+after {
		t.Fatalf("replace: %q, %v", got, err)
	}
	// Idempotent.
	again, err := spliceMarkedBlock(got, block2)
	if err != nil || again != got {
		t.Fatalf("second splice changed the file: %q, %v", again, err)
	}
	// A begin marker without an end is refused rather than eating the file.
	if _, err := spliceMarkedBlock(before+sshConfigBegin+"\nHost x\n", block2); !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("unterminated block: err = %v, want ErrInvalidInput", err)
	}
}

func TestEnsureInclude(t *testing.T) {
	const inc = "~/.mngr/ssh_config"
	got, changed := ensureInclude("", inc)
	if !changed || got != "Include ~/.mngr/ssh_config\n" {
		t.Fatalf("new file: %q %v", got, changed)
	}
	user := "Host *\n    User me\n"
	got, changed = ensureInclude(user, inc)
	if !changed || got != "Include ~/.mngr/ssh_config\n\n"+user {
		t.Fatalf("existing file: %q %v", got, changed)
	}
	if again, changed := ensureInclude(got, inc); changed || again != got {
		t.Errorf("second call changed: %q", again)
	}
	// An Include already naming the file (absolute form, quoted, any case) counts.
	abs := "/home/u/.mngr/ssh_config"
	for _, existing := range []string{"include " + abs + "\n", `Include "` + abs + `"` + "\n", "Include ~/.ssh/other " + inc + "\n"} {
		if out, changed := ensureInclude(existing+user, inc, abs); changed || out != existing+user {
			t.Errorf("existing %q: changed=%v out=%q", existing, changed, out)
		}
	}
}

func TestSSHAliasesAndRendering(t *testing.T) {
	dir := t.TempDir()
	spaced := filepath.Join(dir, "my keys", "100%")
	entries := []sshConfigEntry{
		{Agent: "dup", Host: "h1", Provider: "azure", WorkDir: "/code", SSHEndpoint: core.SSHEndpoint{HostName: "10.0.0.1", Port: 2222, User: "root", IdentityFile: spaced + "/key", KnownHostsFile: spaced + "/kh"}},
		{Agent: "dup", Host: "h2", Provider: "azure", WorkDir: "/code", SSHEndpoint: core.SSHEndpoint{HostName: "10.0.0.2", Port: 2222, User: "root", IdentityFile: "/k", KnownHostsFile: "/kh"}},
		{Agent: "we*ird name,!x", Host: "h3", Provider: "azure", WorkDir: "/w\nHost evil", SSHEndpoint: core.SSHEndpoint{HostName: "10.0.0.3", Port: 2200, User: "root", IdentityFile: "/k", KnownHostsFile: "/kh"}},
	}
	assignSSHAliases(entries)
	var aliases []string
	for _, e := range entries {
		aliases = append(aliases, e.Alias)
	}
	want := []string{"dup.h1.azure.mngr", "dup.h2.azure.mngr", "we-ird-name--x.mngr"}
	if strings.Join(aliases, " ") != strings.Join(want, " ") {
		t.Fatalf("aliases = %v, want %v", aliases, want)
	}
	block, err := renderSSHConfigBlock(entries)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(block, "\nHost evil") {
		t.Errorf("a newline in the work dir escaped its comment:\n%s", block)
	}
	if !strings.Contains(block, `IdentityFile "`+strings.ReplaceAll(spaced, "%", "%%")+`/key"`) {
		t.Errorf("spaced path not quoted or %% not doubled:\n%s", block)
	}
	if _, err := renderSSHConfigBlock([]sshConfigEntry{{Agent: "q", Alias: "q.mngr", SSHEndpoint: core.SSHEndpoint{HostName: "h", Port: 22, IdentityFile: `/a"b`, KnownHostsFile: "/kh"}}}); !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("quote in path: err = %v, want ErrInvalidInput", err)
	}

	// OpenSSH itself reads the block as intended (ssh -G parses, never connects).
	if _, err := exec.LookPath("ssh"); err != nil {
		testenv.Missing(t, "no ssh client")
	}
	file := filepath.Join(dir, "cfg")
	if err := os.WriteFile(file, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	got := sshG(t, file, "dup.h1.azure.mngr")
	for k, v := range map[string]string{"hostname": "10.0.0.1", "port": "2222", "user": "root", "identityfile": spaced + "/key",
		"userknownhostsfile": spaced + "/kh", "stricthostkeychecking": "true", "identitiesonly": "yes"} {
		// ssh -G prints IdentityFile before %-token expansion (%% stays %%).
		if g := strings.ReplaceAll(got[k], "%%", "%"); g != v {
			t.Errorf("ssh -G %s = %q, want %q", k, got[k], v)
		}
	}
	if got := sshG(t, file, "we-ird-name--x.mngr"); got["hostname"] != "10.0.0.3" || got["port"] != "2200" {
		t.Errorf("odd alias resolves to %s:%s", got["hostname"], got["port"])
	}
	// An alias mngr did not write matches none of the blocks.
	if got := sshG(t, file, "other.mngr"); got["hostname"] != "other.mngr" {
		t.Errorf("unrelated host picked up %q", got["hostname"])
	}
}

// sshG runs `ssh -G -F file alias` and returns its resolved options.
func sshG(t *testing.T, file, alias string) map[string]string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "ssh", "-G", "-F", file, alias).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh -G %s: %v\n%s", alias, err, out)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, " "); ok {
			if _, dup := m[k]; !dup {
				m[k] = v
			}
		}
	}
	return m
}

// sshCloud is a fakeCloud whose hosts plain ssh can reach.
type sshCloud struct{ *fakeCloud }

func (c sshCloud) Name() string { return "sshcloud" }

func (c sshCloud) SSHEndpoint(_ context.Context, id core.HostID) (core.SSHEndpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.hosts[id]
	if !ok {
		return core.SSHEndpoint{}, core.ErrNotFound
	}
	if !h.running {
		return core.SSHEndpoint{}, core.ErrHostOffline
	}
	return core.SSHEndpoint{HostName: "127.0.0.7", Port: 2222, User: "root",
		IdentityFile: filepath.Join(c.root, "keys", "container_ssh_key"), KnownHostsFile: filepath.Join(c.root, "keys", "container_known_hosts")}, nil
}

func TestSSHConfigCommand(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	sc := sshCloud{&fakeCloud{root: filepath.Join(te.env["HOME"], "ssh cloud"), hosts: map[core.HostID]*fakeHost{}}}
	te.reg.Register(core.Backend{Name: "sshcloud", DefaultInstance: true, New: func(context.Context, string, core.Settings, core.Env) (core.Provider, error) {
		return sc, nil
	}})
	te.mustRun("create", "web", "command", "--provider", "sshcloud", "--", "sleep", "60")
	te.mustRun("create", "db", "command", "--provider", "sshcloud", "--", "sleep", "60")
	te.mustRun("create", "here", "command", "--", "sleep", "60")
	te.mustRun("stop", "db")

	out := te.mustRun("ssh-config")
	if !strings.Contains(out, "Host web.mngr\n") || strings.Contains(out, "db.mngr") || strings.Contains(out, "here.mngr") {
		t.Errorf("stdout:\n%s", out)
	}
	for _, want := range []string{`UserKnownHostsFile "` + sc.root + `/keys/container_known_hosts"`, "StrictHostKeyChecking yes", "# work dir: ",
		"    ForwardAgent no\n", "    ForwardX11 no\n", "    ForwardX11Trusted no\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	errs := te.errOut.String()
	if !strings.Contains(errs, "skipping agent here") || !strings.Contains(errs, "skipping agent db") || !strings.Contains(errs, "mngr start db") {
		t.Errorf("stderr notes: %q", errs)
	}

	// json: a list of entries.
	te.mustRun("ssh-config", "web", "--format", "json")
	var entries []map[string]any
	te.jsonOut(&entries)
	if len(entries) != 1 || entries[0]["alias"] != "web.mngr" || entries[0]["hostname"] != "127.0.0.7" || entries[0]["port"] != float64(2222) ||
		entries[0]["known_hosts_file"] != filepath.Join(sc.root, "keys", "container_known_hosts") {
		t.Errorf("json = %v", entries)
	}

	out = te.mustRun("ssh-config", "--format", "jsonl")
	var ev map[string]any
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || jsonUnmarshal(lines[0], &ev) != nil ||
		ev["event"] != "ssh_config_entry" || ev["alias"] != "web.mngr" || ev["user"] != "root" {
		t.Errorf("jsonl = %q", out)
	}

	// --write: the marked file plus one Include at the top of ~/.ssh/config.
	userCfg := filepath.Join(te.env["HOME"], ".ssh", "config")
	if err := os.MkdirAll(filepath.Dir(userCfg), 0o700); err != nil {
		t.Fatal(err)
	}
	mine := "Host box\n    HostName box.example\n"
	if err := os.WriteFile(userCfg, []byte(mine), 0o640); err != nil {
		t.Fatal(err)
	}
	mngrCfg := filepath.Join(te.env["MNGR_HOST_DIR"], "ssh_config")
	if err := os.MkdirAll(filepath.Dir(mngrCfg), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mngrCfg, []byte("# my note\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	te.mustRun("ssh-config", "--write")
	first, _ := os.ReadFile(mngrCfg)
	uc1, _ := os.ReadFile(userCfg)
	te.mustRun("ssh-config", "--write")
	second, _ := os.ReadFile(mngrCfg)
	uc2, _ := os.ReadFile(userCfg)
	if string(first) != string(second) || string(uc1) != string(uc2) {
		t.Errorf("--write is not idempotent:\n%s\n---\n%s", first, second)
	}
	if !strings.HasPrefix(string(first), "# my note\n") || !strings.Contains(string(first), "Host web.mngr") || strings.Count(string(first), sshConfigBegin) != 1 {
		t.Errorf("%s:\n%s", mngrCfg, first)
	}
	if want := "Include ~/.mngr/ssh_config\n\n" + mine; string(uc2) != want {
		t.Errorf("~/.ssh/config = %q, want %q", uc2, want)
	}
	if st, err := os.Stat(userCfg); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("~/.ssh/config mode changed: %v %v", st.Mode(), err)
	}

	// Destroying the agent drops its block on the next write.
	te.mustRun("destroy", "web", "-f")
	te.mustRun("ssh-config", "--write")
	third, _ := os.ReadFile(mngrCfg)
	if strings.Contains(string(third), "web.mngr") || !strings.Contains(string(third), sshConfigEnd) {
		t.Errorf("after destroy:\n%s", third)
	}

	// --output FILE writes only that file, ready for ssh -F.
	te.mustRun("create", "api", "command", "--provider", "sshcloud", "--", "sleep", "60")
	outFile := filepath.Join(t.TempDir(), "cfg")
	te.mustRun("ssh-config", "api", "--output", outFile)
	b, err := os.ReadFile(outFile)
	if err != nil || !strings.Contains(string(b), "Host api.mngr") {
		t.Fatalf("--output: %q %v", b, err)
	}
	if st, _ := os.Stat(outFile); st.Mode().Perm() != 0o600 {
		t.Errorf("--output mode = %v", st.Mode())
	}
	if uc3, _ := os.ReadFile(userCfg); string(uc3) != string(uc2) {
		t.Errorf("--output touched ~/.ssh/config")
	}
	if _, err := exec.LookPath("ssh"); err == nil {
		if got := sshG(t, outFile, "api.mngr"); got["hostname"] != "127.0.0.7" || got["stricthostkeychecking"] != "true" {
			t.Errorf("ssh -G api.mngr: %v", got)
		}
	}
}
