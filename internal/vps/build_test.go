package vps

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/sshx"
)

func TestParseBuildPlan(t *testing.T) {
	exists := func(p string) bool { return p == "." || p == "ctx" || p == "Dockerfile.dev" }
	tests := []struct {
		name string
		args []string
		want buildPlan
	}{
		{"context last", []string{"-f", "Dockerfile.dev", "."}, buildPlan{Context: ".", Args: []string{"-f", "Dockerfile.dev"}}},
		{"git depth", []string{"--git-depth=3", "ctx", "--build-arg", "A=1"}, buildPlan{Context: "ctx", GitDepth: 3, Args: []string{"--build-arg", "A=1"}}},
		{"no context", []string{"--pull"}, buildPlan{Args: []string{"--pull"}}},
		{"missing path is not a context", []string{"nope"}, buildPlan{Args: []string{"nope"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBuildPlan(tt.args, exists)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
	for _, bad := range []string{"--git-depth=x", "--git-depth=0", "--git-depth="} {
		if _, err := parseBuildPlan([]string{bad}, exists); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestRewriteDockerfileArgs(t *testing.T) {
	got := rewriteDockerfileArgs([]string{"-f", "a/Dockerfile", "--file=b", "--dockerfile", "/abs/D", "-f=c", "--build-arg", "f=x", "--file"}, "/tmp/r")
	want := []string{"-f", "/tmp/r/a/Dockerfile", "--file=/tmp/r/b", "--dockerfile", "/abs/D", "-f=/tmp/r/c", "--build-arg", "f=x", "--file"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
}

func TestRsyncArgs(t *testing.T) {
	got := rsyncArgs("/src/", sshx.Target{Host: "10.0.0.4", Port: 22, User: "root", KeyPath: "/k/vm key", KnownHostsPath: "/k/vm_known_hosts"}, "/tmp/mngr-build-x")
	joined := strings.Join(got, "\n")
	for _, want := range []string{"--delete", "--exclude=node_modules", "--exclude=.venv", "StrictHostKeyChecking=yes",
		"UserKnownHostsFile=/k/vm_known_hosts", "'/k/vm key'", "\n/src/\nroot@10.0.0.4:/tmp/mngr-build-x/",
		"-o ForwardAgent=no", "-o ForwardX11=no", "-o ClearAllForwardings=yes"} {
		if !strings.Contains(joined, want) {
			t.Errorf("rsync args lack %q:\n%s", want, joined)
		}
	}
}
