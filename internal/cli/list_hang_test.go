package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/sshx"
	"github.com/mngr-azure/mngr/internal/sshx/sshtest"
	"github.com/mngr-azure/mngr/internal/vps"
	"github.com/mngr-azure/mngr/internal/vps/vpstest"
)

// hangHosts is two running hosts behind one in-memory cloud: "fine" lists
// its agent; "stuck" answers the reach check (`echo ok`) and then never
// answers the agent listing.
type hangHosts struct {
	home, keyDir, prefix string
	port                 int
	cloud                *vpstest.Client
	fineAgent            core.AgentRecord
	stuckListings        chan struct{}
}

func newHangHosts(t *testing.T) *hangHosts {
	t.Helper()
	home := t.TempDir()
	hh := &hangHosts{home: home, keyDir: filepath.Join(home, "keys"), prefix: "mngrhang-",
		cloud: vpstest.NewClient(), stuckListings: make(chan struct{}, 16)}
	keys, err := vps.EnsureKeys(hh.keyDir)
	if err != nil {
		t.Fatal(err)
	}
	hostKey, _, err := sshx.GenerateEd25519("container host")
	if err != nil {
		t.Fatal(err)
	}
	// The fine host: its agent record in its host dir, and a tmux and ps
	// that show the agent's pane running claude (so it lists as WAITING).
	hh.fineAgent = core.AgentRecord{ID: core.NewAgentID(), Name: "fine-agent", Type: "claude", Command: "claude",
		WorkDir: "/work", CreateTime: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	fineDir := filepath.Join(home, "fine")
	bin := filepath.Join(home, "bin")
	data, _ := json.Marshal(hh.fineAgent)
	files := map[string]string{
		filepath.Join(fineDir, "mngr", "agents", string(hh.fineAgent.ID), "data.json"): string(data),
		filepath.Join(fineDir, "panes"): fmt.Sprintf("0|4242|0|%s|claude\n", core.SessionName(hh.prefix, hh.fineAgent.Name)),
		filepath.Join(fineDir, "procs"): "1 0 sleep\n4242 1 claude\n",
		filepath.Join(bin, "tmux"):      "#!/bin/sh\nexec cat ./panes\n",
		filepath.Join(bin, "ps"):        "#!/bin/sh\nexec cat ./procs\n",
	}
	for f, text := range files {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stuck := func(ctx context.Context, e sshtest.Exec) int {
		if strings.HasPrefix(e.Command, "sh -c 'echo ok;") { // the reach probe
			_, _ = io.WriteString(e.Stdout, "ok\n")
			return 0
		}
		hh.stuckListings <- struct{}{}
		select {
		case <-ctx.Done(): // the client gave up
		case <-time.After(30 * time.Second): // a bound for the test itself
		}
		return 137
	}
	// Two loopback addresses sharing one free port (the provider's
	// container port).
	var last error
	for range 8 {
		subnet, port := 1+rand.IntN(250), 20000+rand.IntN(30000)
		cfgs := []sshtest.Config{
			{Addr: net.JoinHostPort(fmt.Sprintf("127.89.%d.1", subnet), fmt.Sprint(port)), HostKeyPEM: hostKey, AuthorizedKey: keys.ContainerKeyPub,
				Dir: fineDir, Env: []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "TMUX="}},
			{Addr: net.JoinHostPort(fmt.Sprintf("127.89.%d.2", subnet), fmt.Sprint(port)), HostKeyPEM: hostKey, AuthorizedKey: keys.ContainerKeyPub,
				Handler: stuck},
		}
		var srvs []*sshtest.Server
		for _, c := range cfgs {
			s, err := sshtest.Start(c)
			if err != nil {
				last = err
				break
			}
			srvs = append(srvs, s)
		}
		if len(srvs) < len(cfgs) {
			for _, s := range srvs {
				s.Close()
			}
			continue
		}
		hh.port = port
		for i, name := range []string{"fine", "stuck"} {
			s := srvs[i]
			t.Cleanup(s.Close)
			if err := sshx.PinHostKey(keys.ContainerKnownHosts, s.Host(), port, s.HostPublicKey()); err != nil {
				t.Fatal(err)
			}
			inst := vps.Instance{ID: "vm-" + name, HostID: core.NewHostID(), HostName: name, Status: vps.StatusActive,
				PublicIP: s.Host(), Tags: map[string]string{}}
			var mirrored []core.AgentRecord
			if name == "stuck" {
				mirrored = []core.AgentRecord{{ID: core.NewAgentID(), Name: "stuck-agent", Type: "claude", Command: "claude",
					WorkDir: "/work", CreateTime: hh.fineAgent.CreateTime.Add(time.Minute)}}
			}
			hh.cloud.Put(inst, mirrored)
		}
		return hh
	}
	t.Fatalf("could not bind two loopback listeners: %v", last)
	return nil
}

// list runs `mngr list` with args as a fresh invocation.
func (hh *hangHosts) list(t *testing.T, args ...string) (code ExitCode, stdout, stderr string, took time.Duration) {
	t.Helper()
	var provs []*vps.Provider
	reg := &core.Registry{}
	reg.Register(core.Backend{Name: "hangvps", DefaultInstance: true, New: func(_ context.Context, name string, _ core.Settings, env core.Env) (core.Provider, error) {
		p, err := vps.NewProvider(hh.cloud, vps.Config{ProviderName: name, Prefix: env.Prefix, KeyDir: hh.keyDir, HostDir: "mngr",
			ContainerSSHPort: hh.port, ReachTimeout: 3 * time.Second})
		if err == nil {
			provs = append(provs, p)
		}
		return p, err
	}})
	env := map[string]string{"HOME": hh.home, "MNGR_HOST_DIR": filepath.Join(hh.home, ".mngr"), "MNGR_PREFIX": hh.prefix}
	var out, errOut bytes.Buffer
	f := NewFactory(reg, &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, func(k string) string { return env[k] })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	code = Run(ctx, f, append([]string{"list"}, args...))
	took = time.Since(start)
	for _, p := range provs {
		p.Close()
	}
	return code, out.String(), errOut.String(), took
}

// TestListBoundsAHostThatHangsAfterConnect checks that a host that answers
// the reach check and then hangs on the agent listing costs `mngr list` no
// more than hostListTimeout: the other host's agent lists, and the stuck
// host is reported as a timeout that names it and says what to do.
func TestListBoundsAHostThatHangsAfterConnect(t *testing.T) {
	const bound = 700 * time.Millisecond
	old := hostListTimeout
	hostListTimeout = bound
	t.Cleanup(func() { hostListTimeout = old })
	hh := newHangHosts(t)

	code, stdout, stderr, took := hh.list(t, "--format", "json")
	// Both hosts are probed at once: the list costs one bound plus the
	// fine host's few round trips, not the stuck command's 30 s.
	if took > bound+3*time.Second {
		t.Errorf("list took %v with a %v per-host bound", took, bound)
	}
	if took < bound {
		t.Errorf("list took %v, less than the %v bound: did it wait on the stuck host at all?", took, bound)
	}
	t.Logf("list with a stuck host took %v (per-host bound %v)", took, bound)
	if len(hh.stuckListings) == 0 {
		t.Error("the stuck host never received the agent listing")
	}
	if code != ExitError {
		t.Errorf("exit %d, want %d (a host error)", code, ExitError)
	}
	var doc struct {
		Agents []agentDetails `json:"agents"`
		Errors []gatherError  `json:"errors"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("list output %q: %v (stderr %s)", stdout, err, stderr)
	}
	states := map[string]core.AgentState{}
	for _, a := range doc.Agents {
		states[a.Name] = a.State
	}
	if states["fine-agent"] != core.AgentWaiting {
		t.Errorf("agents %+v; want fine-agent WAITING from the fine host", doc.Agents)
	}
	if _, ok := states["stuck-agent"]; !ok {
		t.Errorf("agents %+v; want the stuck host's mirrored agent listed too", doc.Agents)
	}
	if len(doc.Errors) != 1 || doc.Errors[0].ExceptionType != "TimeoutError" ||
		!strings.Contains(doc.Errors[0].Message, `list agents on host "stuck": it answered ssh but not the agent listing within 700ms`) {
		t.Errorf("errors %+v; want one TimeoutError naming host stuck", doc.Errors)
	}
	// Scripts get the next step too.
	if len(doc.Errors) == 1 && !strings.Contains(doc.Errors[0].Hint, "`mngr stop <agent>` then `mngr start <agent>`") {
		t.Errorf("error hint %q; want the next step in the JSON as on stderr", doc.Errors[0].Hint)
	}

	// People see the error and what to do on stderr.
	code, stdout, stderr, _ = hh.list(t)
	if code != ExitError || !strings.Contains(stdout, "fine-agent") {
		t.Errorf("human list: exit %d, stdout %q", code, stdout)
	}
	for _, want := range []string{`list agents on host "stuck"`, "run the command again in a minute", "`mngr stop <agent>` then `mngr start <agent>`"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q lacks %q", stderr, want)
		}
	}

	// --on-error abort lists nothing when anything failed: no partial list
	// a script could take for the whole; the error as before.
	code, stdout, stderr, _ = hh.list(t, "--on-error", "abort", "--format", "json")
	doc.Agents, doc.Errors = nil, nil
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("list --on-error abort output %q: %v (stderr %s)", stdout, err, stderr)
	}
	if code != ExitError || len(doc.Agents) != 0 || len(doc.Errors) != 1 {
		t.Errorf("list --on-error abort: exit %d, agents %+v, errors %+v", code, doc.Agents, doc.Errors)
	}
}
