//go:build azsim

package azure

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

type azsimEndpoint struct {
	ARM            string `json:"arm"`
	AuthorityHost  string `json:"authority_host"`
	Audience       string `json:"audience"`
	CAFile         string `json:"ca_file"`
	TenantID       string `json:"tenant_id"`
	ClientID       string `json:"client_id"`
	ClientSecret   string `json:"client_secret"`
	SubscriptionID string `json:"subscription_id"`
	Admin          string `json:"admin"`
}

// startAzsim builds ./cmd/azsim, serves it on loopback and returns its endpoint and data dir.
func startAzsim(t *testing.T) (azsimEndpoint, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("azsim integration test skipped in -short mode")
	}
	bin := filepath.Join(t.TempDir(), "azsim")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/mngr-azure/mngr/cmd/azsim")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("cmd/azsim does not build yet: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", dir, "--vm-backend", "none")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var ep azsimEndpoint
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "endpoint.json"))
		if err == nil && json.Unmarshal(b, &ep) == nil && ep.ARM != "" {
			return ep, dir
		}
		if time.Now().After(deadline) {
			t.Fatalf("azsim wrote no endpoint.json in 30s")
		}
		time.Sleep(50 * time.Millisecond) // polling for a file another process writes
	}
}

func armCalls(t *testing.T, dir string) int {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "requests.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n++
	}
	return n
}

// TestAzsim runs against ONE azsim process: Go caches the SSL_CERT_FILE pool
// per process, so every azsim of a test binary must share its CA.
func TestAzsim(t *testing.T) {
	c, ep, dir := azsimClient(t)
	t.Run("lifecycle", func(t *testing.T) { lifecycle(t, c, dir) })
	t.Run("gc reclaims failed create", func(t *testing.T) { gcFailedCreate(t, c, ep) })
	t.Run("spot create with the default size", func(t *testing.T) { spotDefaultCreate(t, c, ep) })
	t.Run("create deletes a VM Azure accepted and then failed", func(t *testing.T) { failedVMDeleted(t, c, ep) })
	t.Run("a size that cannot boot the image is refused before any write", func(t *testing.T) { generationRefused(t, c, dir) })
	t.Run("quota refusals name the quota", func(t *testing.T) { quotaHints(t, c, ep) })
	t.Run("bake and create from the baked image", func(t *testing.T) { bakeOnARM(t, c) })
	// Last: it replays every request the subtests above made.
	t.Run("openapi conformance", func(t *testing.T) { conformance(t, c, dir) })
}

// azsimClient starts azsim, prepares it and returns a Client pointed at it.
func azsimClient(t *testing.T) (*Client, azsimEndpoint, string) {
	t.Helper()
	ep, dir := startAzsim(t)
	t.Setenv("SSL_CERT_FILE", ep.CAFile)
	env := map[string]string{
		"AZURE_TENANT_ID": ep.TenantID, "AZURE_CLIENT_ID": ep.ClientID, "AZURE_CLIENT_SECRET": ep.ClientSecret,
		"AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential", "AZURE_AUTHORITY_HOST": ep.AuthorityHost,
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg := DefaultConfig()
	cfg.SubscriptionID = ep.SubscriptionID
	cfg.ResourceManagerEndpoint, cfg.ResourceManagerAudience, cfg.AuthorityHost = ep.ARM, ep.Audience, ep.AuthorityHost
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := NewClient("azure", cfg, ClientOptions{Getenv: func(k string) string { return env[k] }, PollFrequency: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := range 2 {
		res, err := c.Prepare(ctx, PrepareOptions{RegistrationTimeout: 30 * time.Second})
		if err != nil {
			t.Fatalf("prepare %d: %v", i, err)
		}
		for _, r := range res.Resources {
			if i == 1 && r.Created {
				t.Errorf("second prepare created %s %s", r.Kind, r.Name)
			}
		}
	}
	if err := c.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	return c, ep, dir
}

func lifecycle(t *testing.T, c *Client, dir string) {
	t.Helper()
	ctx := t.Context()
	pa, _, _ := c.ParseBuildArgs(nil)
	inst, err := c.CreateInstance(ctx, vps.CreateInstanceRequest{HostID: core.NewHostID(), HostName: "it-host", UserData: []byte("#cloud-config\n"),
		AdminPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxkNHiKDaFYV8wXjiqtgtnRTJLx3hc3i2wUmfRe4Hv3 test", ProviderArgs: pa})
	if err != nil {
		t.Fatal(err)
	}
	if inst.PublicIP == "" {
		t.Errorf("created instance has no public IP")
	}
	if err := c.StopInstance(ctx, inst.HostID); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetInstance(ctx, inst.HostID)
	if err != nil || got.Status != vps.StatusStopped {
		t.Fatalf("after stop: %+v %v", got, err)
	}
	started, err := c.StartInstance(ctx, inst.HostID)
	if err != nil || started.PublicIP != inst.PublicIP {
		t.Fatalf("start: %+v %v (ip was %s)", started, err, inst.PublicIP)
	}
	before := armCalls(t, dir)
	if _, err := c.ListInstances(ctx); err != nil {
		t.Fatal(err)
	}
	if n := armCalls(t, dir) - before; n > 3 {
		t.Errorf("list made %d ARM calls for one VM", n)
	}
	if _, err := c.Cleanup(ctx); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("cleanup with a VM: %v", err)
	}
	if err := c.DestroyInstance(ctx, inst.HostID); err != nil {
		t.Fatal(err)
	}
	if err := c.DestroyInstance(ctx, inst.HostID); err != nil {
		t.Fatalf("second destroy: %v", err)
	}
	if res, err := c.Cleanup(ctx); err != nil || !res.Deleted {
		t.Fatalf("cleanup: %+v %v", res, err)
	}
}

func gcFailedCreate(t *testing.T, c *Client, ep azsimEndpoint) {
	t.Helper()
	ctx := t.Context()
	if _, err := c.Prepare(ctx, PrepareOptions{RegistrationTimeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(ep.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	adminPost(t, hc, ep, "/faults", `{"method":"PUT","path":"/virtualMachines/","status":409,"code":"SkuNotAvailable","count":1}`, http.StatusCreated)
	pa, _, _ := c.ParseBuildArgs(nil)
	id := core.NewHostID()
	_, err = c.CreateInstance(ctx, vps.CreateInstanceRequest{HostID: id, HostName: "doomed", UserData: []byte("x"), AdminPublicKey: "ssh-ed25519 AAAA test", ProviderArgs: pa})
	if !errors.Is(err, core.ErrCapacity) || core.HintOf(err) == "" {
		t.Fatalf("create: %v (hint %q), want capacity with a hint", err, core.HintOf(err))
	}
	// The failed VM create reserved its NIC (as Azure does for 180 s), so
	// the create's own rollback could not delete it, nor the public IP on it.
	nic := nicName(vmName("doomed", id))
	if err := c.deleteNIC(ctx, nic); errorCode(err) != "NicReservedForAnotherVm" {
		t.Fatalf("delete NIC %s right after the failed create: %v, want NicReservedForAnotherVm", nic, err)
	}
	// gc must not touch what the failed create left before it is 240 s old
	// by Resource Manager's clock…
	items, err := c.CollectGarbage(ctx, false)
	if err != nil || len(items) != 0 {
		t.Fatalf("young gc: %+v %v", items, err)
	}
	// …and the first gc after that reclaims the NIC (its reservation has
	// ended) and the public IP: azsim's clock moves, not mngr's.
	adminPost(t, hc, ep, "/clock", `{"advance_seconds": 241}`, http.StatusOK)
	items, err = c.CollectGarbage(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, it := range items {
		if !it.Done {
			t.Errorf("gc after 240 s left %s %s: %s", it.Kind, it.Name, it.Error)
		}
		kinds[it.Kind] = true
	}
	if !kinds["network-interface"] || !kinds["public-ip"] {
		t.Errorf("gc after 240 s collected %+v, want the reserved NIC and its public IP", items)
	}
	left, err := c.CollectGarbage(ctx, true)
	if err != nil || len(left) != 0 {
		t.Fatalf("orphans after gc: %+v %v", left, err)
	}
	if res, err := c.Cleanup(ctx); err != nil || !res.Deleted {
		t.Fatalf("cleanup: %+v %v", res, err)
	}
}

// adminPost calls azsim's admin API and fails the test unless it answers want.
func adminPost(t *testing.T, hc *http.Client, ep azsimEndpoint, path, body string, want int) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ep.Admin+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ep.ClientSecret)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("azsim admin POST %s: %s, want %d", path, resp.Status, want)
	}
}

// adminHTTP is an HTTP client that trusts azsim's CA.
func adminHTTP(t *testing.T, ep azsimEndpoint) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(ep.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// azsimResources counts azsim's resources by type (admin GET /state).
func azsimResources(t *testing.T, hc *http.Client, ep azsimEndpoint) map[string]int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ep.Admin+"/state", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ep.ClientSecret)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var st struct {
		Resources map[string]int `json:"resources"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Resources
}

// spotDefaultCreate runs `--azure-spot` with no size through the code path
// mngr create uses (ParseBuildArgs, then CreateInstance) against azsim,
// whose SKUs say the default Standard_B2s is not LowPriorityCapable and
// which refuses a B-series Spot VM as Azure does.
func spotDefaultCreate(t *testing.T, c *Client, ep azsimEndpoint) {
	t.Helper()
	ctx := t.Context()
	if _, err := c.Prepare(ctx, PrepareOptions{RegistrationTimeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ParseBuildArgs([]string{"--azure-spot", "--azure-vm-size=Standard_B2s"}); !errors.Is(err, core.ErrInvalidInput) {
		t.Fatalf("explicit B-series Spot: %v, want ErrInvalidInput before any ARM call", err)
	}
	pa, _, err := c.ParseBuildArgs([]string{"--azure-spot"})
	if err != nil {
		t.Fatal(err)
	}
	prog := &recordingProgress{}
	inst, err := c.CreateInstance(core.WithProgress(ctx, prog), vps.CreateInstanceRequest{HostID: core.NewHostID(), HostName: "spot-host",
		UserData: []byte("#cloud-config\n"), AdminPublicKey: "ssh-ed25519 AAAA test", ProviderArgs: pa})
	if err != nil {
		t.Fatalf("spot create with the default size: %v", err)
	}
	if inst.Size != defaultSpotSize {
		t.Errorf("spot VM size %q, want %s", inst.Size, defaultSpotSize)
	}
	if len(prog.notes) == 0 || !strings.Contains(prog.notes[0], "using "+defaultSpotSize) {
		t.Errorf("progress notes %q do not say which size Spot uses", prog.notes)
	}
	// With the capacity pre-check, a size the SKU list marks
	// LowPriorityCapable=False is skipped for Spot, before any write.
	c.cfg.CapacityPrecheck = true
	defer func() { c.cfg.CapacityPrecheck = false }()
	listed := vps.ProviderArgs{Region: "westus", Size: "Standard_B1s", Sizes: []string{"Standard_B1s", "Standard_D2s_v5"}, Spot: true}
	prog = &recordingProgress{}
	second, err := c.CreateInstance(core.WithProgress(ctx, prog), vps.CreateInstanceRequest{HostID: core.NewHostID(), HostName: "spot-two",
		UserData: []byte("#cloud-config\n"), AdminPublicKey: "ssh-ed25519 AAAA test", ProviderArgs: listed})
	if err != nil {
		t.Fatalf("spot create with a pre-checked list: %v", err)
	}
	if second.Size != "Standard_D2s_v5" || len(prog.warnings) == 0 || !strings.Contains(prog.warnings[0], "LowPriorityCapable=False") {
		t.Errorf("size %q, warnings %q: want Standard_B1s skipped for its LowPriorityCapable=False", second.Size, prog.warnings)
	}
	for _, id := range []core.HostID{inst.HostID, second.HostID} {
		if err := c.DestroyInstance(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := c.Cleanup(ctx); err != nil || !res.Deleted {
		t.Fatalf("cleanup: %+v %v", res, err)
	}
}

// failedVMDeleted: azsim accepts the VM create and then fails it
// (AllocationFailed), leaving the VM in Failed with its NIC, disk and IP;
// a create with a single candidate deletes it, leaving nothing to bill.
func failedVMDeleted(t *testing.T, c *Client, ep azsimEndpoint) {
	t.Helper()
	ctx := t.Context()
	if _, err := c.Prepare(ctx, PrepareOptions{RegistrationTimeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	hc := adminHTTP(t, ep)
	adminPost(t, hc, ep, "/faults", `{"method":"PUT","path":"/virtualMachines/","count":1,"fail_after_accept":true}`, http.StatusCreated)
	pa, _, err := c.ParseBuildArgs(nil)
	if err != nil {
		t.Fatal(err)
	}
	prog := &recordingProgress{}
	_, err = c.CreateInstance(core.WithProgress(ctx, prog), vps.CreateInstanceRequest{HostID: core.NewHostID(), HostName: "failed-host",
		UserData: []byte("#cloud-config\n"), AdminPublicKey: "ssh-ed25519 AAAA test", ProviderArgs: pa})
	if !errors.Is(err, core.ErrCapacity) || !strings.Contains(err.Error(), "AllocationFailed") {
		t.Fatalf("create: %v, want AllocationFailed as ErrCapacity", err)
	}
	got := azsimResources(t, hc, ep)
	for _, typ := range []string{"Microsoft.Compute/virtualMachines", "Microsoft.Compute/disks", "Microsoft.Network/networkInterfaces", "Microsoft.Network/publicIPAddresses"} {
		if got[typ] != 0 {
			t.Errorf("%d %s left after the failed create (warnings %q)", got[typ], typ, prog.warnings)
		}
	}
	if !containsStep(prog.steps, "deleting failed VM ") {
		t.Errorf("steps %q show no delete of the failed VM", prog.steps)
	}
	if res, err := c.Cleanup(ctx); err != nil || !res.Deleted {
		t.Fatalf("cleanup: %+v %v", res, err)
	}
}

func containsStep(steps []string, prefix string) bool {
	for _, s := range steps {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// armWrites returns the ARM requests after the first skip lines of
// requests.jsonl that were not reads.
func armWrites(t *testing.T, dir string, skip int) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "requests.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var l struct {
			Method string `json:"method"`
			Path   string `json:"path"`
		}
		if i < skip || json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		if l.Method != http.MethodGet && l.Method != http.MethodHead {
			out = append(out, l.Method+" "+l.Path)
		}
	}
	return out
}

// generationRefused: azsim's SKU list says Standard_D2_v3 boots Gen1
// images only; a create of it with the default Gen2 Debian image is refused
// before any ARM write, and a failover list [Standard_D2_v3, Standard_B2s]
// lands on Standard_B2s without writing anything for the first.
func generationRefused(t *testing.T, c *Client, dir string) {
	t.Helper()
	ctx := t.Context()
	if _, err := c.Prepare(ctx, PrepareOptions{RegistrationTimeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	pa, _, err := c.ParseBuildArgs([]string{"--azure-vm-size=Standard_D2_v3"})
	if err != nil {
		t.Fatal(err)
	}
	before := armCalls(t, dir)
	_, err = c.CreateInstance(ctx, vps.CreateInstanceRequest{HostID: core.NewHostID(), HostName: "gen1-host",
		UserData: []byte("#cloud-config\n"), AdminPublicKey: "ssh-ed25519 AAAA test", ProviderArgs: pa})
	if !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), "Standard_D2_v3 cannot boot the image's Hyper-V generation V2") {
		t.Fatalf("Standard_D2_v3 with the Gen2 image: %v", err)
	}
	if h := core.HintOf(err); !strings.Contains(h, "Standard_B2s") {
		t.Errorf("hint %q suggests no Gen2 size", h)
	}
	if w := armWrites(t, dir, before); len(w) != 0 {
		t.Errorf("writes before the refusal: %v", w)
	}
	pa, _, err = c.ParseBuildArgs([]string{"--azure-vm-size=Standard_D2_v3,Standard_B2s"})
	if err != nil {
		t.Fatal(err)
	}
	before = armCalls(t, dir)
	inst, err := c.CreateInstance(ctx, vps.CreateInstanceRequest{HostID: core.NewHostID(), HostName: "gen-failover",
		UserData: []byte("#cloud-config\n"), AdminPublicKey: "ssh-ed25519 AAAA test", ProviderArgs: pa})
	if err != nil {
		t.Fatalf("failover [Standard_D2_v3, Standard_B2s]: %v", err)
	}
	if inst.Size != "Standard_B2s" {
		t.Errorf("size %q, want Standard_B2s", inst.Size)
	}
	// One attempt only: one NIC, one public IP, one VM.
	puts := map[string]int{}
	for _, w := range armWrites(t, dir, before) {
		for _, typ := range []string{"/networkInterfaces/", "/publicIPAddresses/", "/virtualMachines/"} {
			if strings.HasPrefix(w, "PUT ") && strings.Contains(w, typ) {
				puts[typ]++
			}
		}
	}
	if d := cmp.Diff(map[string]int{"/networkInterfaces/": 1, "/publicIPAddresses/": 1, "/virtualMachines/": 1}, puts); d != "" {
		t.Errorf("PUTs of the failover create (-want +got)\n%s", d)
	}
	if err := c.DestroyInstance(ctx, inst.HostID); err != nil {
		t.Fatal(err)
	}
}

// quotaHints: azsim refuses each of the three vCPU quotas with Azure's
// wording, and the create's error and hint name the quota that was hit.
func quotaHints(t *testing.T, c *Client, ep azsimEndpoint) {
	t.Helper()
	ctx := t.Context()
	if _, err := c.Prepare(ctx, PrepareOptions{RegistrationTimeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	hc := adminHTTP(t, ep)
	for _, tt := range []struct {
		row      string
		args     []string
		want     string
		wantHint string
		defLimit int
	}{
		{"standardBSFamily", nil, "the standardBSFamily vCPU quota in westus is used up (limit 1, in use 0, this VM needs 2 more)", "another family", 20},
		{"cores", nil, "the regional vCPU quota (Total Regional vCPUs) in westus is used up", "another size does not help", 100},
		{"lowPriorityCores", []string{"--azure-spot"}, "the Spot vCPU quota (LowPriorityCores, Total Regional Spot vCPUs) in westus is used up", "create without --azure-spot", 10},
	} {
		adminPost(t, hc, ep, "/quotas", `{"name":"`+tt.row+`","limit":1}`, http.StatusOK)
		pa, _, err := c.ParseBuildArgs(tt.args)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.CreateInstance(ctx, vps.CreateInstanceRequest{HostID: core.NewHostID(), HostName: "quota-host",
			UserData: []byte("#cloud-config\n"), AdminPublicKey: "ssh-ed25519 AAAA test", ProviderArgs: pa})
		if !errors.Is(err, core.ErrQuotaExceeded) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrQuotaExceeded with %q", tt.row, err, tt.want)
		}
		if h := core.HintOf(err); !strings.Contains(h, tt.wantHint) {
			t.Errorf("%s: hint %q lacks %q", tt.row, h, tt.wantHint)
		}
		adminPost(t, hc, ep, "/quotas", `{"name":"`+tt.row+`","limit":`+strconv.Itoa(tt.defLimit)+`}`, http.StatusOK)
	}
}
