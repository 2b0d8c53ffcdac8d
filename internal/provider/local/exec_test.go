package local

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
)

func TestExecutorRun(t *testing.T) {
	tests := []struct {
		name   string
		script string
		stdin  string
		want   core.RunResult
	}{
		{"stdout", "echo hi", "", core.RunResult{Stdout: "hi\n"}},
		{"stderr and exit", "echo oops >&2; exit 7", "", core.RunResult{Stderr: "oops\n", ExitCode: 7}},
		{"stdin", "tr a-z A-Z", "abc", core.RunResult{Stdout: "ABC"}},
		{"background child does not hang", "(sleep 30 >/dev/null 2>&1 &); echo done", "", core.RunResult{Stdout: "done\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Executor{}.Run(context.Background(), tt.script, core.RunOptions{Stdin: strings.NewReader(tt.stdin)})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestExecutorStreams(t *testing.T) {
	var out, errOut bytes.Buffer
	got, err := Executor{}.Run(context.Background(), "echo a; echo b >&2", core.RunOptions{Stdout: &out, Stderr: &errOut})
	if err != nil {
		t.Fatal(err)
	}
	if got.Stdout != "" || out.String() != "a\n" || errOut.String() != "b\n" {
		t.Errorf("result %+v, streamed %q %q", got, out.String(), errOut.String())
	}
}

func TestExecutorContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := Executor{}.Run(ctx, "sleep 30", core.RunOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
}

func TestInteractiveArgv(t *testing.T) {
	if d := cmp.Diff([]string{"bash", "-c", "tmux attach"}, Executor{}.InteractiveArgv("tmux attach")); d != "" {
		t.Error(d)
	}
}
