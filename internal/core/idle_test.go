package core

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "30s", want: 30 * time.Second},
		{in: "5m", want: 5 * time.Minute},
		{in: "1h", want: time.Hour},
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "90", want: 90 * time.Second},
		{in: "0", want: 0},
		{in: " 20s ", want: 20 * time.Second},
		{in: "", bad: true},
		{in: "s", bad: true},
		{in: "-5m", bad: true},
		{in: "1.5h", bad: true},
		{in: "1h30m", bad: true},
		{in: "5w", bad: true},
		{in: "abc", bad: true},
		{in: "99999999999999999999", bad: true},
		{in: "3000000000", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseDuration("--idle-timeout", tt.in)
		if tt.bad {
			if !errors.Is(err, ErrInvalidInput) || !strings.Contains(HintOf(err), "30s, 5m, 1h, 7d") || !strings.Contains(err.Error(), "--idle-timeout") {
				t.Errorf("ParseDuration(%q) = %v, %v; want ErrInvalidInput naming the flag and the forms", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatSeconds(t *testing.T) {
	for in, want := range map[int]string{0: "0s", 45: "45s", 120: "2m", 3600: "1h", 5400: "90m", 172800: "2d", 3601: "3601s"} {
		if got := FormatSeconds(in); got != want {
			t.Errorf("FormatSeconds(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestIdleModes(t *testing.T) {
	tests := map[string][]string{
		"io":       {"user", "agent", "ssh", "create", "start", "boot"},
		"IO":       {"user", "agent", "ssh", "create", "start", "boot"},
		"run":      {"create", "start", "boot", "process"},
		"user":     {"user"},
		"agent":    {"agent"},
		"ssh":      {"ssh"},
		"create":   {"create"},
		"boot":     {"boot"},
		"start":    {"start"},
		"disabled": {},
	}
	for mode, want := range tests {
		got, err := SourcesOfMode(mode)
		if err != nil {
			t.Fatalf("SourcesOfMode(%q): %v", mode, err)
		}
		if d := cmp.Diff(NormalizeSources(want), NormalizeSources(got)); d != "" {
			t.Errorf("mode %s (-want +got)\n%s", mode, d)
		}
		if mode != "disabled" {
			if m := ModeOfSources(got); m != strings.ToLower(mode) {
				t.Errorf("ModeOfSources(%v) = %q, want %q", got, m, mode)
			}
		}
	}
	if _, err := SourcesOfMode("process"); !errors.Is(err, ErrInvalidInput) || !strings.Contains(HintOf(err), "io, user") {
		t.Errorf("unknown mode: %v (hint %q)", err, HintOf(err))
	}
	if _, err := ParseActivitySources("--activity-sources", "user,bogus"); !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown source: %v", err)
	}
	if _, err := ParseActivitySources("--activity-sources", " , "); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("empty sources: %v", err)
	}
	if got, _ := ParseActivitySources("--activity-sources", "ssh, USER,ssh"); !cmp.Equal(got, []string{"user", "ssh"}) {
		t.Errorf("sources = %v, want [user ssh]", got)
	}
}

func TestIdleChangeApply(t *testing.T) {
	base, err := NewIdlePolicy(800, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		c    IdleChange
		want IdlePolicy
		bad  bool
	}{
		{name: "nothing", c: IdleChange{}, want: base},
		{name: "timeout", c: IdleChange{Timeout: 20 * time.Second, TimeoutSet: true},
			want: IdlePolicy{TimeoutSeconds: 20, Mode: "io", Sources: base.Sources}},
		{name: "mode keeps the timeout", c: IdleChange{Mode: "run"},
			want: IdlePolicy{TimeoutSeconds: 800, Mode: "run", Sources: []string{"create", "start", "boot", "process"}}},
		{name: "sources make a custom mode", c: IdleChange{Sources: []string{"ssh", "process"}},
			want: IdlePolicy{TimeoutSeconds: 800, Mode: "custom", Sources: []string{"ssh", "process"}}},
		{name: "sources matching a preset name it", c: IdleChange{Sources: []string{"agent"}},
			want: IdlePolicy{TimeoutSeconds: 800, Mode: "agent", Sources: []string{"agent"}}},
		{name: "add and remove", c: IdleChange{Add: []string{"process"}, Remove: []string{"user", "agent", "ssh"}},
			want: IdlePolicy{TimeoutSeconds: 800, Mode: "run", Sources: []string{"create", "start", "boot", "process"}}},
		{name: "removing every source disables", c: IdleChange{Mode: "ssh", Remove: []string{"ssh"}},
			want: IdlePolicy{TimeoutSeconds: 800, Mode: "disabled", Sources: []string{}}},
		{name: "disabled", c: IdleChange{Mode: "disabled"}, want: IdlePolicy{TimeoutSeconds: 800, Mode: "disabled", Sources: []string{}}},
		{name: "disabled with sources", c: IdleChange{Mode: "disabled", Add: []string{"ssh"}}, bad: true},
	}
	for _, tt := range tests {
		got, err := tt.c.Apply(base)
		if tt.bad {
			if !errors.Is(err, ErrInvalidInput) {
				t.Errorf("%s: err = %v, want ErrInvalidInput", tt.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("%s (-want +got)\n%s", tt.name, d)
		}
	}
	if base.Enforced() != true || (IdlePolicy{TimeoutSeconds: 0, Mode: "io", Sources: base.Sources}).Enforced() {
		t.Error("Enforced: want true for a timeout and sources, false without a timeout")
	}
}

func TestIdlePolicyFileRoundTrip(t *testing.T) {
	for _, p := range []IdlePolicy{
		{TimeoutSeconds: 20, Mode: "io", Sources: []string{"user", "agent", "ssh", "create", "start", "boot"}},
		{TimeoutSeconds: 3600, Mode: "custom", Sources: []string{"ssh", "process"}},
		{TimeoutSeconds: 800, Mode: "disabled", Sources: []string{}},
	} {
		got, err := ParseIdlePolicy(RenderIdlePolicy(p))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(p, got); d != "" {
			t.Errorf("round trip (-want +got)\n%s", d)
		}
	}
	if got := RenderIdlePolicy(IdlePolicy{TimeoutSeconds: -1, Mode: "io"}); !strings.Contains(got, "\ntimeout=0\n") {
		t.Errorf("a negative timeout is written as %q, want timeout=0 (never stops)", got)
	}
	for _, bad := range []string{"", "mode=io\n", "timeout=abc\n", "timeout=5\nsources=user,nope\n", "garbage\n"} {
		if _, err := ParseIdlePolicy(bad); err == nil {
			t.Errorf("ParseIdlePolicy(%q): no error", bad)
		}
	}
}

func TestParseActivityAndNewest(t *testing.T) {
	a, err := parseActivity("- boot 100\n- ssh 400\nagent-1 create 150\nagent-1 process 900\nagent-2 agent 300\n")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s int64) time.Time { return time.Unix(s, 0) }
	if got, ok := a.Newest([]string{"boot", "create", "agent"}); !ok || !got.Equal(at(300)) {
		t.Errorf("Newest(boot,create,agent) = %v %v, want 300", got.Unix(), ok)
	}
	if got, ok := a.Newest(AllSources); !ok || !got.Equal(at(900)) {
		t.Errorf("Newest(all) = %v, want 900", got.Unix())
	}
	if _, ok := a.Newest([]string{"user"}); ok {
		t.Error("Newest(user) found activity that was never recorded")
	}
	if _, err := parseActivity("- boot notanumber\n"); err == nil {
		t.Error("bad activity line accepted")
	}
}

func TestQuietEmptyHost(t *testing.T) {
	now := time.Unix(10000, 0)
	act := HostActivity{Host: map[string]time.Time{"boot": time.Unix(9000, 0)}}
	if r := QuietEmptyHost(act, time.Unix(1000, 0), now, 600*time.Second); !strings.Contains(r, "quiet for 1000s") {
		t.Errorf("quiet host: reason %q", r)
	}
	if r := QuietEmptyHost(act, time.Unix(1000, 0), now, 2000*time.Second); r != "" {
		t.Errorf("recently active host: reason %q, want kept", r)
	}
	if r := QuietEmptyHost(HostActivity{}, time.Unix(9900, 0), now, 600*time.Second); r != "" {
		t.Errorf("new host without activity: reason %q, want kept", r)
	}
	if r := QuietEmptyHost(HostActivity{}, time.Time{}, now, 600*time.Second); r != "" {
		t.Errorf("host of unknown age: reason %q, want kept", r)
	}
}

func TestAttachScriptStampsSSHOnRemoteHosts(t *testing.T) {
	rec := AgentRecord{Name: "demo"}
	got := AttachScript(&Host{HostDir: "/mngr", Remote: true}, "mngr-", rec)
	for _, want := range []string{"while kill -0 $$", "/mngr/activity/ssh", "sleep 5", "tmux attach-session -t =mngr-demo", "exit $mngr_rc"} {
		if !strings.Contains(got, want) {
			t.Errorf("remote AttachScript misses %q:\n%s", want, got)
		}
	}
}

// The remote attach script, run as connect runs it (sh -c), with a tmux
// that stays attached for 2 s and exits 7: the ssh activity is stamped
// while attached, tmux's exit code comes back, and no stamping loop
// outlives the script.
func TestAttachScriptRunsAndStampsSSH(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "tmux"), []byte("#!/bin/sh\nsleep 2\nexit 7\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hostDir := filepath.Join(dir, "host")
	script := AttachScript(&Host{HostDir: hostDir, Remote: true}, "mngr-", AgentRecord{Name: "demo"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("attach script: %v, want tmux's exit code 7", err)
	}
	stamp := filepath.Join(hostDir, "activity", "ssh")
	b, err := os.ReadFile(stamp)
	if err != nil || !strings.HasPrefix(string(b), `{"time":`) {
		t.Fatalf("ssh activity: %q %v", b, err)
	}
	fi, _ := os.Stat(stamp)
	// The loop stamps every 5 s; after the script it must be gone.
	time.Sleep(6 * time.Second)
	fi2, err := os.Stat(stamp)
	if err != nil || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("ssh activity stamped after the attach ended (%v → %v, %v)", fi.ModTime(), fi2.ModTime(), err)
	}
}

// exec and message on a remote host are user activity.
func TestUserActivityOnRemoteHosts(t *testing.T) {
	dir := t.TempDir()
	h := &Host{HostDir: filepath.Join(dir, "host"), Remote: true}
	rec := AgentRecord{Name: "demo", WorkDir: dir}
	out, err := exec.CommandContext(context.Background(), "sh", "-c", ExecScript(h, rec, "echo ran")).CombinedOutput()
	if err != nil || string(out) != "ran\n" {
		t.Fatalf("exec script: %q %v", out, err)
	}
	if b, err := os.ReadFile(filepath.Join(h.HostDir, "activity", "user")); err != nil || !strings.HasPrefix(string(b), `{"time":`) {
		t.Errorf("user activity after exec: %q %v", b, err)
	}
	if got := ExecScript(&Host{HostDir: h.HostDir}, rec, "ls"); strings.Contains(got, "activity") {
		t.Errorf("exec on this machine stamps activity: %q", got)
	}
}

// A policy file is the host's word: a mode mngr would not write is not shown.
func TestParseIdlePolicyDistrustsTheMode(t *testing.T) {
	p, err := ParseIdlePolicy("timeout=60\nmode=\x1b[31mevil\nsources=ssh\n")
	if err != nil || p.Mode != "ssh" {
		t.Errorf("policy = %+v, %v; want mode ssh from its sources", p, err)
	}
	p, err = ParseIdlePolicy("timeout=60\nmode=io\nsources=\n")
	if err != nil || p.Mode != ModeDisabled || p.Enforced() {
		t.Errorf("policy without sources = %+v, %v; want disabled", p, err)
	}
}
