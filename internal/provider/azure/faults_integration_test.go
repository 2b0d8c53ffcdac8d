//go:build azsim

package azure

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// faultEnv is a Client against its own azsim, trusting that azsim's CA
// through its transport (not SSL_CERT_FILE, which Go caches per process and
// TestAzsim sets for another azsim).
type faultEnv struct {
	t   *testing.T
	c   *Client
	ep  azsimEndpoint
	dir string
	hc  *http.Client
}

func newFaultEnv(t *testing.T) *faultEnv {
	t.Helper()
	ep, dir := startAzsim(t)
	pem, err := os.ReadFile(ep.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	cfg := DefaultConfig()
	cfg.SubscriptionID = ep.SubscriptionID
	cfg.ResourceManagerEndpoint, cfg.ResourceManagerAudience, cfg.AuthorityHost = ep.ARM, ep.Audience, ep.AuthorityHost
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cc, err := cfg.cloudConfig()
	if err != nil {
		t.Fatal(err)
	}
	cred, err := azidentity.NewClientSecretCredential(ep.TenantID, ep.ClientID, ep.ClientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: cc, Transport: hc}, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient("azure", cfg, ClientOptions{Credential: cred, Transport: hc, PollFrequency: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	oldNS := resourceNamespaces
	resourceNamespaces = []string{"Microsoft.Compute", "Microsoft.Network"}
	t.Cleanup(func() { resourceNamespaces = oldNS })
	return &faultEnv{t: t, c: c, ep: ep, dir: dir, hc: hc}
}

func (e *faultEnv) admin(method, path, body string) []byte {
	e.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, e.ep.Admin+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.ep.ClientSecret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		b.WriteString(sc.Text())
	}
	if resp.StatusCode >= 300 {
		e.t.Fatalf("admin %s %s: %s %s", method, path, resp.Status, b.String())
	}
	return []byte(b.String())
}

func (e *faultEnv) fault(spec string) {
	e.t.Helper()
	e.admin(http.MethodDelete, "/faults", "")
	if spec != "" {
		e.admin(http.MethodPost, "/faults", spec)
	}
}

// counts returns how many VMs, NICs, public IPs, disks and role assignments azsim holds.
func (e *faultEnv) counts() map[string]int {
	e.t.Helper()
	var st struct {
		Resources map[string]int `json:"resources"`
	}
	if err := json.Unmarshal(e.admin(http.MethodGet, "/state", ""), &st); err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for typ, n := range st.Resources {
		for short, full := range map[string]string{"vm": vmTypeName, "nic": "Microsoft.Network/networkInterfaces", "ip": "Microsoft.Network/publicIPAddresses", "disk": "Microsoft.Compute/disks", "role": "Microsoft.Authorization/roleAssignments"} {
			if strings.EqualFold(typ, full) {
				out[short] += n
			}
		}
	}
	return out
}

const vmTypeName = "Microsoft.Compute/virtualMachines"

// calls is the number of ARM requests azsim has logged.
func (e *faultEnv) calls() int { return armCalls(e.t, e.dir) }

// transientFaults are fault bursts every operation must ride out.
var transientFaults = []struct{ name, spec string }{
	{"429 storm with Retry-After", `{"status":429,"retry_after":1,"count":2}`},
	{"500 burst", `{"status":500,"code":"InternalServerError","count":2}`},
	{"503 burst", `{"status":503,"code":"ServiceUnavailable","count":2}`},
	{"LRO poll fails mid-way", `{"method":"GET","path":"/operations/","status":500,"code":"InternalServerError","count":2}`},
}

// TestFaultsTransient runs prepare, create, list, stop, start, gc and destroy
// each under every transient fault: each must succeed, leave exactly one
// VM/NIC/IP while the host exists (none after destroy), and stay within the
// retry budget. It logs the ARM calls per operation and fault for RELIABILITY.md.
func TestFaultsTransient(t *testing.T) {
	e := newFaultEnv(t)
	ctx := t.Context()
	pa, _, _ := e.c.ParseBuildArgs(nil)
	maxCalls := map[string]int{}
	for _, f := range transientFaults {
		t.Run(f.name, func(t *testing.T) {
			e.t = t
			var inst vps.Instance
			ops := []struct {
				name string
				run  func() error
				want map[string]int
			}{
				{"prepare", func() error {
					_, err := e.c.Prepare(ctx, PrepareOptions{RegistrationTimeout: 30 * time.Second})
					return err
				}, map[string]int{}},
				{"create", func() error {
					var err error
					inst, err = e.c.CreateInstance(ctx, vps.CreateInstanceRequest{HostID: core.NewHostID(), HostName: "flaky", UserData: []byte("#cloud-config\n"),
						AdminPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxkNHiKDaFYV8wXjiqtgtnRTJLx3hc3i2wUmfRe4Hv3 test", ProviderArgs: pa})
					return err
				}, map[string]int{"vm": 1, "nic": 1, "ip": 1, "disk": 1}},
				{"list", func() error {
					got, err := e.c.ListInstances(ctx)
					if err == nil && len(got) != 1 {
						return fmt.Errorf("list returned %d instances, want 1", len(got))
					}
					return err
				}, map[string]int{"vm": 1, "nic": 1, "ip": 1, "disk": 1}},
				{"stop", func() error { return e.c.StopInstance(ctx, inst.HostID) }, map[string]int{"vm": 1, "nic": 1, "ip": 1, "disk": 1}},
				{"start", func() error {
					s, err := e.c.StartInstance(ctx, inst.HostID)
					if err == nil && s.PublicIP != inst.PublicIP {
						return fmt.Errorf("start changed the IP %s → %s", inst.PublicIP, s.PublicIP)
					}
					return err
				}, map[string]int{"vm": 1, "nic": 1, "ip": 1, "disk": 1}},
				{"gc", func() error {
					items, err := e.c.CollectGarbage(ctx, false)
					if err == nil && len(items) != 0 {
						return fmt.Errorf("gc collected %+v from a live host", items)
					}
					return err
				}, map[string]int{"vm": 1, "nic": 1, "ip": 1, "disk": 1}},
				{"destroy", func() error { return e.c.DestroyInstance(ctx, inst.HostID) }, map[string]int{}},
			}
			for _, op := range ops {
				e.fault(f.spec)
				before, start := e.calls(), time.Now()
				err := op.run()
				e.fault("")
				n := e.calls() - before
				if err != nil {
					t.Fatalf("%s under %s: %v", op.name, f.name, err)
				}
				got := e.counts()
				delete(got, "role")
				for k, v := range got {
					if v == 0 {
						delete(got, k)
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(op.want) {
					t.Errorf("%s under %s: azsim holds %v, want %v", op.name, f.name, got, op.want)
				}
				maxCalls[op.name] = max(maxCalls[op.name], n)
				t.Logf("%-8s %3d ARM calls %5.1fs", op.name, n, time.Since(start).Seconds())
			}
		})
	}
	e.t = t
	t.Logf("max ARM calls per operation under transient faults: %v", maxCalls)
	// Without faults the whole sequence takes far fewer calls; 2 faulted
	// requests add at most 2 retries. A budget of 40 catches a retry loop.
	for op, n := range maxCalls {
		if n > 40 {
			t.Errorf("%s made %d ARM calls under faults", op, n)
		}
	}
}

// TestFaultsPersistent checks that a fault that never ends makes each
// operation fail with a typed error after a bounded number of calls, and
// that a Retry-After beyond the cap fails fast instead of sleeping.
func TestFaultsPersistent(t *testing.T) {
	e := newFaultEnv(t)
	ctx := t.Context()
	if _, err := e.c.Prepare(ctx, PrepareOptions{RegistrationTimeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	pa, _, _ := e.c.ParseBuildArgs(nil)
	req := vps.CreateInstanceRequest{HostID: core.NewHostID(), HostName: "storm", UserData: []byte("#cloud-config\n"),
		AdminPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxkNHiKDaFYV8wXjiqtgtnRTJLx3hc3i2wUmfRe4Hv3 test", ProviderArgs: pa}
	live, err := e.c.CreateInstance(ctx, vps.CreateInstanceRequest{HostID: core.NewHostID(), HostName: "live", UserData: req.UserData, AdminPublicKey: req.AdminPublicKey, ProviderArgs: pa})
	if err != nil {
		t.Fatal(err)
	}
	ops := []struct {
		name string
		run  func() error
	}{
		{"prepare", func() error {
			_, err := e.c.Prepare(ctx, PrepareOptions{RegistrationTimeout: 5 * time.Second})
			return err
		}},
		{"create", func() error { _, err := e.c.CreateInstance(ctx, req); return err }},
		{"list", func() error { _, err := e.c.ListInstances(ctx); return err }},
		{"stop", func() error { return e.c.StopInstance(ctx, live.HostID) }},
		{"start", func() error { _, err := e.c.StartInstance(ctx, live.HostID); return err }},
		{"gc", func() error { _, err := e.c.CollectGarbage(ctx, false); return err }},
		{"destroy", func() error { return e.c.DestroyInstance(ctx, live.HostID) }},
	}
	for _, f := range []struct {
		name, spec string
		status     int
	}{
		{"endless 429 storm", `{"status":429,"retry_after":1}`, http.StatusTooManyRequests},
		{"endless 503", `{"status":503,"code":"ServiceUnavailable"}`, http.StatusServiceUnavailable},
	} {
		for _, op := range ops {
			e.fault(f.spec)
			before, start := e.calls(), time.Now()
			err := op.run()
			e.fault("")
			n, took := e.calls()-before, time.Since(start)
			var re *azcore.ResponseError
			if err == nil {
				t.Errorf("%s under %s: succeeded", op.name, f.name)
			} else if !errors.As(err, &re) || re.StatusCode != f.status || !errors.Is(err, core.ErrUnavailable) || core.HintOf(err) == "" {
				t.Errorf("%s under %s: %v (hint %q), want an ARM %d error, classified unavailable, with a next step", op.name, f.name, err, core.HintOf(err), f.status)
			}
			// 1 try + armMaxRetries retries for the first request; create may
			// then roll back (a few more requests, each also bounded).
			if n > 5*(1+armMaxRetries) {
				t.Errorf("%s under %s: %d ARM calls", op.name, f.name, n)
			}
			t.Logf("%-8s %-18s %3d ARM calls %5.1fs: %v", op.name, f.name, n, took.Seconds(), err)
		}
	}
	// A Retry-After far beyond the cap is not slept: the call fails at once.
	e.fault(`{"status":429,"retry_after":3600}`)
	start := time.Now()
	_, err = e.c.ListInstances(ctx)
	e.fault("")
	if err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("list under Retry-After 3600: %v after %s, want a fast failure", err, time.Since(start))
	}
	// The failed create left nothing a gc after 240 s cannot reclaim, and
	// the live host is untouched.
	e.admin(http.MethodPost, "/clock", `{"advance_seconds":300}`)
	if _, err := e.c.CollectGarbage(ctx, false); err != nil {
		t.Fatal(err)
	}
	got := e.counts()
	if got["vm"] != 1 || got["nic"] != 1 || got["ip"] != 1 {
		t.Errorf("after storms and gc azsim holds %v, want only the live host", got)
	}
	if err := e.c.DestroyInstance(ctx, live.HostID); err != nil {
		t.Fatal(err)
	}
	// What is left is prepare's: the shared identity's one role assignment.
	if got := e.counts(); got["vm"]+got["nic"]+got["ip"]+got["disk"] != 0 || got["role"] != 1 {
		t.Errorf("after destroy azsim holds %v, want only the shared identity's role assignment", got)
	}
}
