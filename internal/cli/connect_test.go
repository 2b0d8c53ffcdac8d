package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
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
	// A stopped agent with --start=false is refused in our words.
	opts.getenv = func(string) string { return "" }
	opts.Start = false
	te.mustRun("stop", "demo")
	if err := runConnect(t.Context(), opts); err == nil || !strings.Contains(err.Error(), "agent demo is not running") || !strings.Contains(core.HintOf(err), "mngr start demo") {
		t.Errorf("stopped, --start=false: err=%v", err)
	}
}

func TestConnectNeedsOneAgent(t *testing.T) {
	te := newTestEnv(t)
	if code := te.run("connect"); code != ExitUsage {
		t.Errorf("exit = %d, want %d", code, ExitUsage)
	}
	// Without a terminal, connect says so instead of passing on tmux's words.
	if code := te.run("connect", "nobody"); code != ExitUsage || !strings.HasPrefix(te.errOut.String(), "Error: connect to agent nobody needs a terminal") {
		t.Errorf("no terminal: code %d stderr %q", code, te.errOut)
	}
	opts := &connectOptions{f: te.f, Agent: "nobody", Start: true, getenv: func(string) string { return "" },
		execFn: func([]string) error { return nil }}
	if err := runConnect(t.Context(), opts); err == nil || core.Describe(err) != `no agent named "nobody"` {
		t.Errorf("missing: err %v", err)
	}
}

// fakeSSH fails the first fails sessions with ssh's own status 255, then
// returns final.
type fakeSSH struct {
	fails, final int
	calls        [][]string
	slept        []time.Duration
}

func (s *fakeSSH) run(_ context.Context, argv []string) (int, error) {
	s.calls = append(s.calls, argv)
	if len(s.calls) <= s.fails {
		return 255, nil
	}
	return s.final, nil
}

func (s *fakeSSH) sleep(_ context.Context, d time.Duration) error {
	s.slept = append(s.slept, d)
	return nil
}

func TestConnectRetriesFailedSessions(t *testing.T) {
	argv := []string{"ssh", "-t", "root@host", "tmux attach"}
	policy := retryPolicy{Times: 3, Delay: 5 * time.Second}
	cases := []struct {
		name        string
		fails       int
		final       int
		wantCalls   int
		wantNotes   int
		wantErr     error
		wantExit    ExitCode
		wantSuccess bool
	}{
		{name: "first try", fails: 0, wantCalls: 1, wantSuccess: true},
		{name: "two failures then ok", fails: 2, wantCalls: 3, wantNotes: 2, wantSuccess: true},
		{name: "all retries used", fails: 3, wantCalls: 4, wantNotes: 3, wantSuccess: true},
		{name: "gives up", fails: 10, wantCalls: 4, wantNotes: 3, wantErr: core.ErrUnavailable},
		{name: "remote status is not retried", fails: 0, final: 3, wantCalls: 1, wantExit: 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errOut := &bytes.Buffer{}
			f := &Factory{IO: &IOStreams{Out: &bytes.Buffer{}, ErrOut: errOut}}
			s := &fakeSSH{fails: c.fails, final: c.final}
			opts := &connectOptions{f: f, Agent: "demo", runSession: s.run, sleep: s.sleep}
			err := runSessionWithRetries(t.Context(), opts, argv, policy)
			if len(s.calls) != c.wantCalls {
				t.Errorf("sessions = %d, want %d", len(s.calls), c.wantCalls)
			}
			for _, a := range s.calls {
				if strings.Join(a, " ") != strings.Join(argv, " ") {
					t.Errorf("argv = %q", a)
				}
			}
			if n := strings.Count(errOut.String(), "retrying in 5s"); n != c.wantNotes {
				t.Errorf("retry notes = %d, want %d: %q", n, c.wantNotes, errOut)
			}
			if len(s.slept) != c.wantNotes {
				t.Errorf("sleeps = %v", s.slept)
			}
			switch {
			case c.wantSuccess:
				if err != nil {
					t.Errorf("err = %v", err)
				}
			case c.wantErr != nil:
				if !errors.Is(err, c.wantErr) || !strings.Contains(err.Error(), "4 time(s)") {
					t.Errorf("err = %v, want %v", err, c.wantErr)
				}
			default:
				var ee *exitError
				if !errors.As(err, &ee) || ee.code != c.wantExit {
					t.Errorf("err = %v, want exit %d", err, c.wantExit)
				}
			}
		})
	}
}

func TestConnectRetryPolicySettings(t *testing.T) {
	te := newTestEnv(t)
	policy := func(settings ...string) (retryPolicy, error) {
		te.reset()
		te.f.global.settings = settings
		return connectRetryPolicy(te.f)
	}
	p, err := policy()
	if err != nil || p != (retryPolicy{Times: 3, Delay: 5 * time.Second}) {
		t.Errorf("defaults = %+v, %v", p, err)
	}
	p, err = policy("retry.connect_retry_times=1", "retry.connect_retry_delay=250ms")
	if err != nil || p != (retryPolicy{Times: 1, Delay: 250 * time.Millisecond}) {
		t.Errorf("set = %+v, %v", p, err)
	}
	p, err = policy("retry.connect_retry_times=0", "retry.connect_retry_delay=2")
	if err != nil || p != (retryPolicy{Times: 0, Delay: 2 * time.Second}) {
		t.Errorf("plain seconds = %+v, %v", p, err)
	}
	for _, bad := range []struct{ setting, key string }{
		{"retry.connect_retry_times=lots", "retry.connect_retry_times"},
		{"retry.connect_retry_times=-1", "retry.connect_retry_times"},
		{"retry.connect_retry_times=1.5", "retry.connect_retry_times"},
		{"retry.connect_retry_delay=soon", "retry.connect_retry_delay"},
		{"retry.connect_retry_delay=-5s", "retry.connect_retry_delay"},
	} {
		_, err := policy(bad.setting)
		if !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), bad.key) {
			t.Errorf("%s: err = %v, want ErrInvalidInput naming %s", bad.setting, err, bad.key)
		}
	}
}

// TestConnectRemoteRetries goes through the whole command: an agent on a
// (fake) cloud host is attached with a session that fails twice.
func TestConnectRemoteRetries(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "far", "command", "--provider", "fakecloud", "--", "sleep", "60")
	te.reset()
	te.f.global.settings = []string{"retry.connect_retry_times=2", "retry.connect_retry_delay=1ms"}
	s := &fakeSSH{fails: 2}
	opts := &connectOptions{f: te.f, Agent: "far", Start: true, getenv: func(string) string { return "" },
		runSession: s.run, sleep: s.sleep}
	if err := runConnect(t.Context(), opts); err != nil {
		t.Fatal(err)
	}
	if len(s.calls) != 3 || len(s.slept) != 2 || s.slept[0] != time.Millisecond {
		t.Errorf("calls=%d slept=%v", len(s.calls), s.slept)
	}
	if !strings.Contains(strings.Join(s.calls[0], " "), "attach") {
		t.Errorf("argv = %q", s.calls[0])
	}
	if n := strings.Count(te.errOut.String(), "ssh session to agent far failed"); n != 2 {
		t.Errorf("stderr notes = %d: %q", n, te.errOut)
	}
	// One failure too many: the command fails with a hint.
	te.reset()
	te.f.global.settings = []string{"retry.connect_retry_times=1", "retry.connect_retry_delay=1ms"}
	opts.f, s.calls, s.slept = te.f, nil, nil
	if code := reportError(te.f, runConnect(t.Context(), opts)); code != ExitError || len(s.calls) != 2 ||
		!strings.Contains(te.errOut.String(), "retry.connect_retry_times") {
		t.Errorf("code=%d calls=%d stderr=%q", code, len(s.calls), te.errOut)
	}
}
