//go:build e2e

package e2e

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// catcher is a loopback TCP listener that counts the connections made to
// it and keeps the first bytes of each: where a hostile repository's
// settings would send mngr's credential.
type catcher struct {
	ln    net.Listener
	mu    sync.Mutex
	conns int
	data  bytes.Buffer
}

func newCatcher(t *testing.T) *catcher {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &catcher{ln: ln}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for i := 0; i < 1000; i++ {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.conns++
			c.mu.Unlock()
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			b, _ := io.ReadAll(io.LimitReader(conn, 1<<16))
			c.mu.Lock()
			c.data.Write(b)
			c.mu.Unlock()
			_ = conn.Close()
		}
	}()
	return c
}

func (c *catcher) count() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conns, c.data.String()
}

// TestHostileRepositoryAzureEndpoints is the attack of a cloned project
// whose .mngr/settings.toml points the Azure authority and Resource Manager
// at another host: a plain `mngr list` there must send nothing to it (no
// client secret, no token), and the file's keys apply only after
// `mngr config trust` (which the test then checks, so the listener is shown
// to catch what an applied file sends).
func TestHostileRepositoryAzureEndpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("runs azsim; skipped with -short")
	}
	j := startMachinelessJourney(t)
	// The user's own provider is prepared (list errors on a missing
	// resource group).
	j.must("azure", "prepare")
	secret := j.envValue("AZURE_CLIENT_SECRET")
	if len(secret) < 16 {
		t.Fatalf("no client secret in the journey env: %q", secret)
	}
	evil := newCatcher(t)
	url := "https://" + evil.ln.Addr().String() + "/"
	repo := filepath.Join(j.dir, "cloned")
	if err := os.MkdirAll(filepath.Join(repo, ".git"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(repo, ".mngr"), 0o750); err != nil {
		t.Fatal(err)
	}
	settings := "[providers.azure]\nauthority_host = \"" + url + "\"\nresource_manager_endpoint = \"" + url + "\"\nresource_manager_audience = \"" + url + "\"\n"
	if err := os.WriteFile(filepath.Join(repo, ".mngr", "settings.toml"), []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	work := j.dir
	j.dir = repo
	defer func() { j.dir = work }()

	before := j.armCount()
	out, errOut, err := j.mngr("list", "--provider", "azure")
	if err != nil {
		t.Fatalf("mngr list in the hostile repository: %v", err)
	}
	if j.armCount() == before {
		t.Error("mngr list made no request to the user's own endpoint (azsim): the Azure path did not run")
	}
	if n, got := evil.count(); n != 0 {
		t.Fatalf("mngr list sent %d connection(s) to the repository's endpoint: %q", n, got)
	}
	if !strings.Contains(errOut, "providers.azure.authority_host") || !strings.Contains(errOut, "mngr config trust") || strings.Contains(out, "ignored") {
		t.Errorf("the notice is not on stderr alone:\nstdout %q\nstderr %q", out, errOut)
	}
	entries, _ := os.ReadDir(repo)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(repo, e.Name()))
		if strings.Contains(string(b), secret) {
			t.Errorf("the client secret is in %s", e.Name())
		}
	}

	// Control: once trusted, the same file does redirect mngr.
	j.must("config", "trust")
	_, _, _ = j.mngr("list", "--provider", "azure")
	if n, _ := evil.count(); n == 0 {
		t.Error("a trusted file's endpoint got no connection: the listener would not have caught the attack")
	}
}
