package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/azsim"
)

func TestServeRefusesNonLoopback(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", "[::]:0", ":0", "192.0.2.1:0"} {
		dir := filepath.Join(t.TempDir(), "data")
		var errOut bytes.Buffer
		if code := Main([]string{"serve", "--data-dir", dir, "--listen", listen}, &bytes.Buffer{}, &errOut); code == 0 ||
			!strings.Contains(errOut.String(), "is not loopback") || !strings.Contains(errOut.String(), "--allow-non-loopback") {
			t.Errorf("--listen %s: exit %d, stderr %q", listen, code, errOut.String())
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("--listen %s: a refused serve made its data dir: %v", listen, err)
		}
	}
}

func TestServeEnvStop(t *testing.T) {
	dir := t.TempDir()
	// A data dir made beforehand with a loose mode is tightened.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	var serveErr bytes.Buffer
	go func() {
		done <- Main([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0"}, &bytes.Buffer{}, &serveErr)
	}()
	var ep azsim.Endpoint
	for i := 0; i < 600; i++ {
		var err error
		if ep, err = azsim.ReadEndpoint(dir); err == nil {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s", code, serveErr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if ep.ARM == "" || !strings.HasPrefix(ep.ARM, "https://127.0.0.1:") || ep.Admin != ep.ARM+"/_azsim" || ep.AuthorityADFS != ep.ARM+"/adfs" {
		t.Fatalf("endpoint = %+v", ep)
	}
	if info, err := os.Stat(filepath.Join(dir, "arm.sock")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("unix socket: %v %v", info, err)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("data dir: %v %v", info, err)
	}
	var out bytes.Buffer
	if code := Main([]string{"env", "--data-dir", dir, "--provider-name", "sim"}, &out, &out); code != 0 {
		t.Fatalf("env exited %d: %s", code, out.String())
	}
	for _, want := range []string{
		"export AZURE_CLIENT_SECRET='" + ep.ClientSecret + "'\n",
		"export REQUESTS_CA_BUNDLE='" + ep.CAFile + "'\n",
		"[providers.sim]\nbackend = \"azure\"\n",
		"resource_manager_endpoint = \"" + ep.ARM + "\"\n",
		"authority_host = \"" + ep.ARM + "/\"\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("env output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := AdminCall(context.Background(), azsim.Endpoint{Admin: ep.Admin, CAFile: ep.CAFile, ClientSecret: "wrong"}, "GET", "/state", ""); err == nil {
		t.Error("admin API accepted a wrong secret")
	}
	out.Reset()
	if code := Main([]string{"stop", "--data-dir", dir}, &out, &out); code != 0 {
		t.Fatalf("stop exited %d: %s", code, out.String())
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d: %s", code, serveErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit after stop")
	}
	if _, err := os.Stat(filepath.Join(dir, "endpoint.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("endpoint.json left behind: %v", err)
	}
}

func TestServeFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "--data-dir is required"},
		{[]string{"serve", "--data-dir", "x", "--latency", "slow"}, `--latency "slow"`},
		{[]string{"serve", "--data-dir", "x", "--vm-backend", "qemu"}, `--vm-backend "qemu"`},
		{[]string{"serve", "--data-dir", "x", "--npm-cache", "y"}, "--npm-cache needs --vm-backend docker"},
		{[]string{"serve", "--data-dir", "x", "--vm-backend", "docker", "--npm-cache", "y", "--npm-upstream", "ftp://h"}, `--npm-upstream: npm upstream "ftp://h"`},
		{[]string{"serve", "--data-dir", "x", "--vm-backend", "docker", "--npm-offline"}, "--npm-offline and --npm-seed-from need --npm-cache"},
		{[]string{"nosuch"}, `unknown command "nosuch"`},
		{[]string{"serve", "--nosuch"}, "unknown flag: --nosuch"},
		{[]string{"env", "extra"}, `unknown command "extra"`},
	}
	for _, tc := range tests {
		var errOut bytes.Buffer
		// Usage and bad input exit 2, as mngr's do.
		if code := Main(tc.args, &bytes.Buffer{}, &errOut); code != exitUsage || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: code %d, stderr %q, want %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}
