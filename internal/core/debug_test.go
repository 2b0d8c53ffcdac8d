package core

import (
	"bytes"
	"strings"
	"testing"
)

func TestDebugLog(t *testing.T) {
	var buf bytes.Buffer
	Debugf("dropped while off")
	SetDebugOutput(&buf)
	t.Cleanup(func() { SetDebugOutput(nil) })
	if !DebugEnabled() {
		t.Fatal("debug log not enabled after SetDebugOutput")
	}
	Debugf("ssh %s: %s", "10.0.0.4:22", ScriptSummary("docker info\nsecond line"))
	out := buf.String()
	if strings.Contains(out, "dropped") || !strings.HasPrefix(out, "debug ") || !strings.Contains(out, "ssh 10.0.0.4:22: docker info …") || strings.Count(out, "\n") != 1 {
		t.Fatalf("debug log %q", out)
	}
}

func TestScriptSummaryHidesKeysAndCuts(t *testing.T) {
	for in, want := range map[string]string{
		"echo ok": "echo ok",
		"printf '%s' '-----BEGIN OPENSSH PRIVATE KEY-----": "(script)",
		strings.Repeat("x", 70):                            strings.Repeat("x", 60) + " …",
		"  \nset -e\nmore":                                 "set -e …",
	} {
		if got := ScriptSummary(in); got != want {
			t.Errorf("ScriptSummary(%q) = %q, want %q", in, got, want)
		}
	}
}
