package vps

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/scripttest"
)

// TestScriptsParse checks every embedded script with sh -n and bash -n.
func TestScriptsParse(t *testing.T) {
	got := scripttest.CheckSyntax(t, os.DirFS("scripts"))
	want := []string{"bake_agent_clis.sh", "bake_scrub.sh", "cloud_init_probe.sh", "cloudinit_base_packages.sh", "cloudinit_docker.sh", "container_run.sh", "container_ssh.sh",
		"docker_apt_key.sh", "idle_stop.sh", "idle_watcher.sh", "metadata_firewall.sh", "scrub_user_data.sh"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("scripts (-want +got)\n%s", d)
	}
	// The idle watcher touches the sentinel the VM's path unit watches.
	if !strings.Contains(IdleWatcherScript, `"$dir/`+SentinelRelPath+`"`) {
		t.Errorf("idle_watcher.sh does not touch HOST_DIR/%s", SentinelRelPath)
	}
}

// TestIdleStopScript runs idle_stop.sh with stand-ins for the self-stop
// script (one exit status per try, read from a file), logger, sleep and
// date (a clock that only sleep moves): it removes the sentinel, retries a
// refused (2), identity-less (3) or unanswered (4) self-stop with a
// doubling, capped wait until the retry window is spent, gives up at once
// on any other failure, records the last refusal in the refused file and
// removes that file once a stop is accepted. It exits 0 every time.
func TestIdleStopScript(t *testing.T) {
	tests := []struct {
		name  string
		exits string // the self-stop's exit status at each try
		// wantSleeps are the waits between tries; wantRecord is a part of
		// the refused record left behind ("" for none).
		wantSleeps, wantRecord string
		wantLog                []string
	}{
		{name: "accepted", exits: "0", wantLog: []string{"self-stop requested (attempt 1)"}},
		{name: "role not yet effective, then accepted", exits: "2 2 0", wantSleeps: "30 60",
			wantLog: []string{"self-stop refused: the VM's identity lacks the deallocate role (not yet effective, or removed) (exit 2, attempt 1, retrying in 30s); the VM keeps running",
				"self-stop requested (attempt 3)"}},
		{name: "role missing for good", exits: "2 2 2 2 2 2 2 2 2 2", wantSleeps: "30 60 120 120 120 120",
			wantRecord: "\trefused: the VM's identity lacks the deallocate role (not yet effective, or removed) (attempt 7, gave up): reason of try 7\n"},
		{name: "principal not found, then accepted", exits: "3 0", wantSleeps: "30",
			wantLog: []string{"self-stop refused: the VM's identity is missing or not yet known to Entra ID (exit 3, attempt 1, retrying in 30s); the VM keeps running"}},
		{name: "throttled, then accepted", exits: "4 4 0", wantSleeps: "30 60"},
		{name: "final failure", exits: "1 0",
			wantRecord: "\tfailed (attempt 1, gave up): reason of try 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := func(name string) string { return filepath.Join(dir, name) }
			sentinel, refused := file("sentinel"), filepath.Join(dir, "host_dir", "commands", "idle-stop-refused")
			if err := os.MkdirAll(filepath.Dir(refused), 0o700); err != nil {
				t.Fatal(err)
			}
			q := core.ShellQuote
			for path, body := range map[string]string{
				sentinel:      "",
				refused:       "2020-01-01T00:00:00Z\tan older refusal\n",
				file("exits"): tt.exits,
				file("clock"): "1000",
				// The self-stop stand-in: exit with the next status, its reason last on stderr.
				file("self-stop"): "#!/bin/sh\nn=$(cat " + q(file("tries")) + " 2>/dev/null || echo 0); n=$((n+1)); echo $n > " + q(file("tries")) + "\n" +
					"rc=$(cut -d' ' -f$n " + q(file("exits")) + ")\necho \"detail\" >&2\necho \"mngr-self-stop: reason of try $n\" >&2\nexit ${rc:-0}\n",
				file("logger"): "#!/bin/sh\nshift 2; echo \"$*\" >> " + q(file("log")) + "\n",
				file("sleep"):  "#!/bin/sh\nprintf '%s ' \"$1\" >> " + q(file("sleeps")) + "\necho $(( $(cat " + q(file("clock")) + ") + $1 )) > " + q(file("clock")) + "\n",
				file("date"):   "#!/bin/sh\ncase $1 in +%s) cat " + q(file("clock")) + " ;; *) echo 2026-12-07T08:00:00Z ;; esac\n",
			} {
				if err := os.WriteFile(path, []byte(body), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			script := filepath.Join(dir, "idle-stop")
			// 30 s doubling to 120 s for 600 s: tries at 0, 30, 90, 210, 330, 450, 570.
			if err := os.WriteFile(script, []byte(core.ScriptCall(idleStopSh, sentinel, file("self-stop"), refused, "30", "120", "600")), 0o700); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(t.Context(), script)
			cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("idle stop: %v: %s", err, out)
			}
			if _, err := os.Stat(sentinel); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("sentinel remains (%v)", err)
			}
			sleeps, _ := os.ReadFile(file("sleeps"))
			if d := cmp.Diff(tt.wantSleeps, strings.TrimSpace(string(sleeps))); d != "" {
				t.Errorf("waits (-want +got)\n%s", d)
			}
			record, err := os.ReadFile(refused)
			switch {
			case tt.wantRecord == "" && !errors.Is(err, fs.ErrNotExist):
				t.Errorf("refused record left after an accepted stop: %q %v", record, err)
			case tt.wantRecord != "" && (!strings.HasPrefix(string(record), "2026-12-07T08:00:00Z\t") || !strings.HasSuffix(string(record), tt.wantRecord)):
				t.Errorf("refused record = %q, want it to end with %q", record, tt.wantRecord)
			}
			log, _ := os.ReadFile(file("log"))
			for _, want := range tt.wantLog {
				if !strings.Contains(string(log), want+"\n") {
					t.Errorf("log lacks %q:\n%s", want, log)
				}
			}
		})
	}
}

// TestIdleStopRefusedHint turns the VM's refused record into list's host
// hint: its time and reason, and `mngr stop` as the way out; no record, no
// hint; a record that is not ours still names the way out, bounded.
func TestIdleStopRefusedHint(t *testing.T) {
	for _, c := range []struct{ record, want string }{
		{"", ""},
		{"\n", ""},
		{"2026-12-07T08:00:00Z\trefused: the VM's identity lacks the deallocate role (not yet effective, or removed) (attempt 3, retrying in 120s): Resource Manager answered HTTP 403 AuthorizationFailed\n",
			"the VM's idle self-deallocate (last try 2026-12-07T08:00:00Z) was refused: the VM's identity lacks the deallocate role (not yet effective, or removed) (attempt 3, retrying in 120s): " +
				"Resource Manager answered HTTP 403 AuthorizationFailed; it keeps running and billing: run `mngr stop <agent>` to deallocate it"},
		{"garbage\nmore", "the VM's idle self-deallocate was garbage; it keeps running and billing: run `mngr stop <agent>` to deallocate it"},
	} {
		if got := idleStopRefusedHint(c.record); got != c.want {
			t.Errorf("hint(%q) = %q, want %q", c.record, got, c.want)
		}
	}
	if got := idleStopRefusedHint("x\t" + strings.Repeat("a", 5000)); len(got) > 600 {
		t.Errorf("hint of a huge record is %d bytes", len(got))
	}
}

// TestMetadataFirewallScript runs metadata_firewall.sh against a stand-in
// iptables that keeps its rules in a file: the first run rejects both
// addresses in mngr's chain and jumps to it from DOCKER-USER (forwarded
// container traffic) and from INPUT for everything but lo (the VM's own
// processes keep both addresses); a second run (the next docker start)
// adds nothing. Without iptables it fails, so docker's start fails with it.
func TestMetadataFirewallScript(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules")
	fake := `#!/bin/sh
[ "$1" = -w ] && shift
op=$1; shift
line="$*"
case $op in
  -N) grep -qxF "chain $1" ` + core.ShellQuote(rules) + ` 2>/dev/null && exit 1; echo "chain $1" >> ` + core.ShellQuote(rules) + ` ;;
  -C) grep -qxF "$line" ` + core.ShellQuote(rules) + ` 2>/dev/null ;;
  -A|-I) [ "$op" = -I ] && { c=$1; shift 2; line="$c $*"; }; echo "$line" >> ` + core.ShellQuote(rules) + ` ;;
  *) echo "unexpected iptables $op $line" >&2; exit 2 ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "iptables"), []byte(fake), 0o700); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "firewall")
	if err := os.WriteFile(script, []byte(metadataFirewallSh), 0o700); err != nil {
		t.Fatal(err)
	}
	run := func(path string) error {
		cmd := exec.CommandContext(t.Context(), "/bin/sh", script)
		cmd.Env = append(os.Environ(), "PATH="+path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("firewall script: %s", out)
		}
		return err
	}
	sysPath := os.Getenv("PATH")
	for range 2 {
		if err := run(dir + string(os.PathListSeparator) + sysPath); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := os.ReadFile(rules)
	want := `chain MNGR-METADATA
MNGR-METADATA -d 169.254.169.254 -p tcp -j REJECT --reject-with tcp-reset
MNGR-METADATA -d 169.254.169.254 -j REJECT
MNGR-METADATA -d 168.63.129.16 -p tcp -j REJECT --reject-with tcp-reset
MNGR-METADATA -d 168.63.129.16 -j REJECT
chain DOCKER-USER
DOCKER-USER -j MNGR-METADATA
INPUT ! -i lo -j MNGR-METADATA
FORWARD -j DOCKER-USER
`
	if d := cmp.Diff(want, string(got)); d != "" {
		t.Errorf("rules after two runs (-want +got)\n%s", d)
	}
	// A PATH without iptables (only the tools the script needs besides it).
	bin := t.TempDir()
	for _, tool := range []string{"sh"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skip(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(bin); err == nil {
		t.Error("the firewall script succeeded without iptables")
	}
}
