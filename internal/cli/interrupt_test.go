package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
)

func TestInterruptHandler(t *testing.T) {
	var errOut bytes.Buffer
	exited := make(chan ExitCode, 1)
	ctx, ih := newInterruptHandler(context.Background(), &errOut, func(c ExitCode) { exited <- c })
	left := core.LeftoversFrom(ctx)
	left.Add(core.Leftover{Key: "host-1/a", Kind: "Azure virtual machine", Name: "mngr-x-host-0123abcd (resource group mngr)", Remove: "mngr gc --provider azure"})
	left.Add(core.Leftover{Key: "host-1/a", Kind: "Azure OS disk", Name: "mngr-x-host-0123abcd-osdisk (resource group mngr)", Remove: "mngr gc --provider azure"})
	left.Add(core.Leftover{Key: "agent-1", Kind: "work dir", Name: "/w", Remove: "rm -rf -- /w"})
	sigs := make(chan os.Signal, 2)
	go ih.watch(sigs)
	defer close(sigs)

	sigs <- syscall.SIGINT
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the first interrupt did not cancel the command")
	}
	if !ih.interrupted() {
		t.Error("not marked interrupted")
	}
	select {
	case c := <-exited:
		t.Fatalf("the first interrupt exited (%d)", c)
	case <-time.After(50 * time.Millisecond):
	}
	sigs <- syscall.SIGTERM
	select {
	case c := <-exited:
		if c != ExitInterrupted {
			t.Errorf("exit %d, want %d", c, ExitInterrupted)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second interrupt did not stop mngr")
	}
	out := errOut.String()
	for _, want := range []string{
		"interrupt again to stop at once",
		"Azure virtual machine mngr-x-host-0123abcd",
		"Azure OS disk mngr-x-host-0123abcd-osdisk",
		"remove them with: mngr gc --provider azure",
		"work dir /w",
		"remove them with: rm -rf -- /w",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestInterruptHandlerNothingLeft(t *testing.T) {
	var errOut bytes.Buffer
	var code ExitCode
	_, ih := newInterruptHandler(context.Background(), &errOut, func(c ExitCode) { code = c })
	ih.signal()
	ih.signal()
	if code != ExitInterrupted || !strings.Contains(errOut.String(), "Nothing this command made is known to remain") {
		t.Errorf("exit %d, output %q", code, errOut.String())
	}
}

// TestRunInterruptedExits130: a command whose context is cancelled (an
// interrupt) and that fails exits 130.
func TestRunInterruptedExits130(t *testing.T) {
	te := newTestEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if code := Run(ctx, te.f, []string{"create", "x", "--no-connect", "--transfer", "none", "--command", "sleep 60"}); code != ExitInterrupted {
		t.Errorf("exit %d, want %d", code, ExitInterrupted)
	}
}
