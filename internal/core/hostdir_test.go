package core

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func TestWriteFileScript(t *testing.T) {
	h := testHost(t)
	if err := os.MkdirAll(h.HostDir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(h.HostDir, "it's a file")
	for _, content := range []string{"", "one\n", "it's %s %d \\n $HOME `id`\n\x01"} {
		runOK(t, h, writeFileScript(p, content))
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("wrote %q, read back %q", content, got)
		}
	}
	left, err := filepath.Glob(filepath.Join(h.HostDir, "*.tmp*"))
	if err != nil || len(left) != 0 {
		t.Errorf("temp files left: %v %v", left, err)
	}
}

func TestEnvFile(t *testing.T) {
	vars, err := parseEnv([]string{"A=1", "B=two words", "C=a=b", "D="})
	if err != nil {
		t.Fatal(err)
	}
	want := "A=1\nB='two words'\nC=a=b\nD=''\n"
	if got := envFile(vars); got != want {
		t.Errorf("envFile = %q, want %q", got, want)
	}
	for _, bad := range []string{"=x", "A B=1", "A-B=1", "9=1", "noequals"} {
		if _, err := parseEnv([]string{bad}); err == nil {
			t.Errorf("parseEnv(%q) accepted", bad)
		}
	}
}

func TestStampScript(t *testing.T) {
	h := testHost(t)
	if err := os.MkdirAll(h.HostDir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(h.HostDir, "start")
	if _, err := h.Exec.Run(context.Background(), stampScript(p), RunOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !activityRe.Match(got) {
		t.Errorf("activity file %q, want {\"time\":<ms>}", got)
	}
}

var activityRe = regexp.MustCompile(`^\{"time":[0-9]{13}\}\n$`)
