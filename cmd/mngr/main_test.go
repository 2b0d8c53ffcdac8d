package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets this test binary be mngr itself: testscript puts a copy of
// it named mngr on the scripts' PATH, and a run under that name goes
// straight to main. The scripts so exercise the code under test with no
// separate build. The system tests that need a release-built binary live
// in ../../e2e.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"mngr": main})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		Setup:               setupScript,
		RequireExplicitExec: true,
		Cmds:                map[string]func(ts *testscript.TestScript, neg bool, args []string){"wait-agent": waitAgent, "exits": exits},
	})
}

// setupScript gives every script its own home, host dir and tmux prefix, and
// kills the script's tmux sessions when it ends.
func setupScript(env *testscript.Env) error {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	prefix := "mngre2e-" + hex.EncodeToString(b[:]) + "-"
	home := filepath.Join(env.WorkDir, "home")
	if err := os.MkdirAll(filepath.Join(home, ".mngr"), 0o750); err != nil {
		return err
	}
	env.Setenv("HOME", home)
	env.Setenv("MNGR_HOST_DIR", filepath.Join(home, ".mngr"))
	env.Setenv("MNGR_PREFIX", prefix)
	// Each script has its own tmux server, so agent shells start from the
	// script's bare HOME and nothing leaks into a shared server.
	tmuxDir, err := os.MkdirTemp("", "mngr-tmux-")
	if err != nil {
		return err
	}
	env.Setenv("TMUX_TMPDIR", tmuxDir)
	env.Setenv("TMUX", "")
	env.Defer(func() {
		kill := exec.CommandContext(context.Background(), "tmux", "kill-server")
		kill.Env = append(os.Environ(), "TMUX_TMPDIR="+tmuxDir)
		_ = kill.Run()
		_ = os.RemoveAll(tmuxDir)
	})
	return nil
}

// waitAgent is `wait-agent NAME STATE…`: it polls `mngr list --format json`
// (for at most 15s) until the agent shows one of the states. An agent's
// command is typed into its shell, so it appears a moment after start.
func waitAgent(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: wait-agent NAME STATE...")
	}
	mngr, err := lookPathIn("mngr", ts.Getenv("PATH"))
	if err != nil {
		ts.Fatalf("%v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		cmd := exec.CommandContext(context.Background(), mngr, "list", "--format", "json")
		cmd.Env = scriptEnv(ts)
		cmd.Dir = ts.Getenv("WORK")
		out, err := cmd.Output()
		if err != nil {
			ts.Fatalf("mngr list: %v", err)
		}
		var res struct {
			Agents []struct {
				Name  string `json:"name"`
				State string `json:"state"`
			} `json:"agents"`
		}
		if err := json.Unmarshal(out, &res); err != nil {
			ts.Fatalf("mngr list output: %v", err)
		}
		last = "absent"
		for _, a := range res.Agents {
			if a.Name == args[0] {
				last = a.State
			}
		}
		for _, want := range args[1:] {
			if last == want {
				return
			}
		}
		time.Sleep(150 * time.Millisecond)
	}
	ts.Fatalf("agent %s is %s, want one of %v", args[0], last, args[1:])
}

// exits is `exits CODE mngr ARGS…`: it runs mngr with ARGS, like exec, and
// fails unless mngr exits with CODE; stdout and stderr are kept for the
// stdout and stderr checks that follow.
func exits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE COMMAND [ARG...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad code %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", strings.Join(args[1:], " "), got, want)
	}
}

// lookPathIn finds the executable name in the script's PATH (where
// testscript put mngr), not in this process's.
func lookPathIn(name, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}

func scriptEnv(ts *testscript.TestScript) []string {
	var env []string
	for _, k := range []string{"HOME", "MNGR_HOST_DIR", "MNGR_PREFIX", "PATH", "TMPDIR", "TMUX_TMPDIR"} {
		env = append(env, k+"="+ts.Getenv(k))
	}
	return env
}
