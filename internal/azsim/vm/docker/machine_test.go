package docker

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/mngr-azure/mngr/internal/azsim/npmcache"
	"github.com/mngr-azure/mngr/internal/azsim/vm"
	"github.com/mngr-azure/mngr/internal/azsim/vm/docker/guesttest"
	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/testenv"
)

// testImages returns the built images, building them first when
// MNGR_BUILD_IMAGES=1, and skips the test when docker or the images are missing.
func testImages(t *testing.T) Images {
	t.Helper()
	if testing.Short() {
		t.Skip("boots real machines; skipped with -short")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		testenv.Missing(t, "docker is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, "docker", "version").Run(); err != nil {
		testenv.Missing(t, "dockerd is not answering: %v", err)
	}
	if os.Getenv("MNGR_BUILD_IMAGES") == "1" {
		cmd := exec.CommandContext(context.Background(), "../../../../scripts/images.sh")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("scripts/images.sh: %v", err)
		}
	}
	img, err := ImagesFromEnv(os.Getenv)
	if errors.Is(err, core.ErrUnavailable) {
		testenv.Missing(t, "simulated-VM image not built (run scripts/setup.sh or set MNGR_BUILD_IMAGES=1): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.CommandContext(ctx, "docker", "image", "inspect", img.VM).Run(); err != nil {
		testenv.Missing(t, "image %s is not in dockerd (run scripts/setup.sh): %v", img.VM, err)
	}
	return img
}

// portOf is the port of a host:port address.
func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// testAPTProxy is the host's apt cache the test VMs install through.
func testAPTProxy(t *testing.T) string {
	t.Helper()
	addr, err := LocalAPTProxy(context.Background(), os.Getenv)
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	return addr
}

// freeLoopbackIP picks a 127.77.x.y address nothing listens on.
func freeLoopbackIP(t *testing.T) string {
	t.Helper()
	seed := os.Getpid()
	for i := range 200 {
		n := (seed + i*7919) % (100 * 250)
		ip := fmt.Sprintf("127.77.%d.%d", 150+n/250, 1+n%250)
		free := true
		for _, port := range []string{"22", "2222"} {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, port), 200*time.Millisecond)
			if err == nil {
				_ = c.Close()
				free = false
			}
		}
		if free {
			return ip
		}
	}
	t.Fatal("no free 127.77.x.y address")
	return ""
}

// testCA makes a CA and a server certificate for 127.0.0.1, as azsim's own.
func testCA(t *testing.T, dir string) (caFile string, serverCert tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "azsim test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})))
	return caFile, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// fakeARM is an HTTPS server on a unix socket standing in for azsim's ARM:
// it records what reached it and with which token.
type fakeARM struct {
	mu   sync.Mutex
	seen []string
}

func (f *fakeARM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"reached":"arm"}`))
}

func (f *fakeARM) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

// fakeNPMUpstream stands in for npm's registry on loopback: one scoped
// package, its packument and tarball, counting requests by escaped path.
type fakeNPMUpstream struct {
	mu   sync.Mutex
	hits map[string]int
}

const (
	fakePackument = `{"name":"@azsim-test/pkg","dist-tags":{"latest":"1.0.0"}}`
	fakeTarball   = "fake tarball bytes"
)

func (f *fakeNPMUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.hits[r.URL.EscapedPath()]++
	f.mu.Unlock()
	switch r.URL.EscapedPath() {
	case "/@azsim-test%2fpkg":
		_, _ = w.Write([]byte(fakePackument))
	case "/@azsim-test/pkg/-/pkg-1.0.0.tgz":
		_, _ = w.Write([]byte(fakeTarball))
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeNPMUpstream) count(p string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[p]
}

// testNPMCache is azsim's npm cache over a fake upstream on loopback: no
// test reaches npm's real registry.
func testNPMCache(t *testing.T) (*npmcache.Cache, *fakeNPMUpstream) {
	t.Helper()
	up := &fakeNPMUpstream{hits: map[string]int{}}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return npmcache.New(t.TempDir(), u, srv.Client()), up
}

func containerExists(t *testing.T, name string) bool {
	t.Helper()
	return exec.CommandContext(context.Background(), "docker", "container", "inspect", name).Run() == nil
}

func TestDockerMachineLifecycle(t *testing.T) {
	img := testImages(t)
	ctx := context.Background()
	dir := t.TempDir()
	caFile, cert := testCA(t, dir)

	// azsim's ARM stand-in, on a unix socket, TLS end to end.
	armSock := filepath.Join(dir, "arm.sock")
	ln, err := net.Listen("unix", armSock)
	if err != nil {
		t.Fatal(err)
	}
	arm := &fakeARM{}
	srv := &http.Server{Handler: arm, ReadHeaderTimeout: 5 * time.Second, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	npmCache, npmUp := testNPMCache(t)

	b, err := New(ctx, Options{
		NPMRegistry: npmCache,
		DataDir:     filepath.Join(dir, "data"), ARMURL: "https://127.0.0.1:47123", ARMSocket: armSock, CAFile: caFile,
		IssueMIToken: func(principalID, resource string) (string, time.Time, error) {
			return "tok." + principalID + "." + resource, time.Now().Add(time.Hour), nil
		},
		Images: img, BootTimeout: 3 * time.Minute, APTProxy: testAPTProxy(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(context.Background(), true); err != nil {
			t.Errorf("close: %v", err)
		}
		out, _ := exec.CommandContext(context.Background(), "docker", "ps", "-aq", "--filter", "label="+LabelDataDir+"="+b.dataDir).Output()
		if len(bytes.TrimSpace(out)) != 0 {
			t.Errorf("containers left behind: %s", out)
		}
	})

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	signer, _ := ssh.NewSignerFromKey(priv)
	// The host key mngr pins before the VM exists, handed over in custom data.
	hostPub, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostBlock, err := ssh.MarshalPrivateKey(hostPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	hostSSHPub, _ := ssh.NewPublicKey(hostPub)
	wantHostKey := string(ssh.MarshalAuthorizedKey(hostSSHPub))
	indented := "    " + strings.ReplaceAll(strings.TrimSpace(string(pem.EncodeToMemory(hostBlock))), "\n", "\n    ")
	ip := freeLoopbackIP(t)
	spec := vm.Spec{
		ResourceID: "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Compute/virtualMachines/vm-life", Name: "vm-life",
		ComputerName: "lifebox", AdminUser: "azureuser", SSHPublicKeys: []string{string(ssh.MarshalAuthorizedKey(sshPub))},
		PublicIP: ip, PrincipalID: "principal-1",
		CustomData: []byte("#cloud-config\nssh_deletekeys: true\nssh_keys:\n  ed25519_private: |\n" + indented + "\n  ed25519_public: " + wantHostKey +
			"write_files:\n  - path: /var/lib/azsim-test/marker\n    content: written-by-custom-data\n" +
			"runcmd:\n  - [sh, -c, 'hostname > /var/lib/azsim-test/hostname']\n" +
			// What mngr's cloud-init does on Debian's Azure image, which has
			// neither: install Docker and jq from the Debian archive.
			"  - [sh, -c, 'export DEBIAN_FRONTEND=noninteractive; (apt-get update && apt-get install -y --no-install-recommends docker.io jq) > /var/lib/azsim-test/apt.log 2>&1; echo $? > /var/lib/azsim-test/apt.rc']\n"),
	}
	bootStart := time.Now()
	if err := b.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Logf("create → sshd answering: %s", time.Since(bootStart).Round(100*time.Millisecond))
	container := b.machines[strings.ToLower(spec.ResourceID)].Container
	addr := net.JoinHostPort(ip, "22")

	g := guesttest.Dial(t, addr, "azureuser", signer)
	firstHostKey := g.HostKey
	if firstHostKey != wantHostKey {
		t.Errorf("sshd serves host key %q, want the one from custom data %q", firstHostKey, wantHostKey)
	}
	t.Run("custom data ran through cloud-init", func(t *testing.T) {
		if got := g.Eventually(t, "test -s /var/lib/azsim-test/hostname && cat /var/lib/azsim-test/hostname", 2*time.Minute); got != "lifebox" {
			t.Errorf("hostname seen by custom data = %q, want lifebox", got)
		}
		if got, _ := g.Run("cat /var/lib/azsim-test/marker"); got != "written-by-custom-data" {
			t.Errorf("marker = %q", got)
		}
		if got, err := g.Run("sudo -n id -u"); err != nil || got != "0" {
			t.Errorf("admin sudo: %q %v", got, err)
		}
		t.Logf("create → custom data done: %s", time.Since(bootStart).Round(100*time.Millisecond))
	})
	t.Run("apt installs through azsim's package cache", func(t *testing.T) {
		if got, _ := g.Run("cat /etc/apt/apt.conf.d/01azsim-apt-proxy"); got != `Acquire::http::Proxy "http://127.0.0.1:`+portOf(b.aptProxy)+`/";` {
			status, _ := g.Run("ls /var/lib/azsim/host; systemctl status --no-pager azsim-apt-proxy")
			t.Errorf("apt proxy conf = %q\n%s", got, status)
		}
		if got := g.Eventually(t, "cat /var/lib/azsim-test/apt.rc", 5*time.Minute); got != "0" {
			out, _ := g.Run("tail -n 20 /var/lib/azsim-test/apt.log")
			t.Fatalf("apt-get install docker.io jq: exit %s:\n%s", got, out)
		}
		t.Logf("create → docker.io and jq installed: %s", time.Since(bootStart).Round(100*time.Millisecond))
	})
	t.Run("npm's registry answers through azsim's cache", func(t *testing.T) {
		reg := "http://127.0.0.1:" + fmt.Sprint(GuestNPMRegistryPort)
		if got := g.Eventually(t, "curl -fsS "+reg+"/@azsim-test%2fpkg", 30*time.Second); got != fakePackument {
			status, _ := g.Run("ls /var/lib/azsim/host; systemctl status --no-pager azsim-npm-registry")
			t.Fatalf("packument = %q\n%s", got, status)
		}
		for range 2 {
			if got, err := g.Run("curl -fsS " + reg + "/@azsim-test/pkg/-/pkg-1.0.0.tgz"); got != fakeTarball {
				t.Errorf("tarball = %q (%v)", got, err)
			}
		}
		if n := npmUp.count("/@azsim-test/pkg/-/pkg-1.0.0.tgz"); n != 1 {
			t.Errorf("tarball fetched upstream %d times; want 1 (then cached)", n)
		}
		if got, _ := g.Run("curl -s -o /dev/null -w '%{http_code}' " + reg + "/@azsim-test%2fnone"); got != "404" {
			t.Errorf("unknown package: status %s, want 404", got)
		}
		// mngr's bake runs npm from cloud-init's last stage: the forwarder is up by then.
		if got, _ := g.Run("systemctl show -p Before --value azsim-npm-registry"); !strings.Contains(got, "cloud-final.service") {
			t.Errorf("azsim-npm-registry is not ordered before cloud-final: Before=%s", got)
		}
	})
	t.Run("agent image loaded into the inner dockerd", func(t *testing.T) {
		if img.AgentTar == "" {
			t.Skip("no agent image tarball")
		}
		// As mngr's prepareImage does once Docker is installed.
		if out, err := g.Run("sudo docker load -i /var/lib/mngr/images/agent.tar"); err != nil {
			t.Fatalf("docker load: %v: %s", err, out)
		}
		g.Eventually(t, "sudo docker image inspect mngr-agent:latest >/dev/null", 30*time.Second)
		if out, err := g.Run("sudo docker run --rm mngr-agent:latest sh -c 'tmux -V && git --version'"); err != nil {
			t.Errorf("inner docker run: %v: %s", err, out)
		}
	})
	t.Run("IMDS answers inside the VM", func(t *testing.T) {
		tok := g.Eventually(t, `curl -fsS -H Metadata:true 'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F' | jq -er .access_token`, 30*time.Second)
		if want := "tok.principal-1.https://management.azure.com/"; tok != want {
			t.Errorf("token = %q, want %q", tok, want)
		}
		id, err := g.Run(`curl -fsS -H Metadata:true 'http://169.254.169.254/metadata/instance/compute/resourceId?api-version=2021-02-01&format=text'`)
		if id != spec.ResourceID {
			t.Errorf("resourceId = %q (%v)", id, err)
		}
		code, _ := g.Run(`curl -s -o /dev/null -w '%{http_code}' 'http://169.254.169.254/metadata/instance?api-version=2021-02-01'`)
		if code != "400" {
			t.Errorf("without Metadata header: status %s, want 400", code)
		}
	})
	t.Run("WireServer answers inside the VM, provisioning document on its disk", func(t *testing.T) {
		// The unit runs from sysinit.target: by the time sshd answers, 168.63.129.16 is the VM's own.
		if out, err := g.Run(`ip -o addr show | grep -c ' 168\.63\.129\.16/'`); out != "1" {
			t.Errorf("168.63.129.16 on the VM's interfaces: %q (%v)", out, err)
		}
		if out := g.Eventually(t, `curl -fsS 'http://168.63.129.16/?comp=versions'`, 30*time.Second); !strings.Contains(out, "<Versions>") {
			t.Errorf("WireServer answered %q", out)
		}
		out, err := g.Run(`sudo stat -c '%a %U' /var/lib/waagent /var/lib/waagent/ovf-env.xml && sudo grep -c '<ns1:CustomData>' /var/lib/waagent/ovf-env.xml`)
		if out != "700 root\n600 root\n1" {
			t.Errorf("ovf-env.xml: %q (%v)", out, err)
		}
	})
	t.Run("ARM at the configured URL reaches azsim over TLS", func(t *testing.T) {
		script := `tok=$(curl -fsS -H Metadata:true 'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/' | jq -r .access_token) && ` +
			`id=$(curl -fsS -H Metadata:true 'http://169.254.169.254/metadata/instance/compute/resourceId?api-version=2021-02-01&format=text') && ` +
			`curl -fsS -X POST -H "Authorization: Bearer $tok" "https://127.0.0.1:47123$id/deallocate?api-version=2024-07-01"`
		out := g.Eventually(t, script, 30*time.Second)
		if out != `{"reached":"arm"}` {
			t.Errorf("ARM answer = %q", out)
		}
		want := "POST " + spec.ResourceID + "/deallocate Bearer tok.principal-1.https://management.azure.com/"
		if got := arm.requests(); len(got) != 1 || got[0] != want {
			t.Errorf("ARM saw %q, want [%q]", got, want)
		}
	})
	g.Run("sudo sh -c 'echo kept > /var/lib/azsim-test/kept'") //nolint:errcheck // checked after the restart

	t.Run("deallocate and start keep address, host key and files", func(t *testing.T) {
		if err := b.Deallocate(ctx, spec.ResourceID); err != nil {
			t.Fatal(err)
		}
		if st, ok, err := b.Observe(ctx, spec.ResourceID); err != nil || !ok || st != vm.PowerDeallocated {
			t.Fatalf("observe after deallocate = %s %v %v", st, ok, err)
		}
		start := time.Now()
		if err := b.Start(ctx, spec); err != nil {
			t.Fatal(err)
		}
		t.Logf("start → sshd answering: %s", time.Since(start).Round(100*time.Millisecond))
		g2 := guesttest.Dial(t, addr, "azureuser", signer)
		if g2.HostKey != firstHostKey {
			t.Errorf("host key changed across deallocate/start:\n%s\n%s", firstHostKey, g2.HostKey)
		}
		if got, _ := g2.Run("cat /var/lib/azsim-test/kept"); got != "kept" {
			t.Errorf("file after restart = %q", got)
		}
		if st, _, _ := b.Observe(ctx, spec.ResourceID); st != vm.PowerRunning {
			t.Errorf("observe after start = %s", st)
		}
		g2.Eventually(t, `curl -fsS -H Metadata:true 'http://169.254.169.254/metadata/instance/compute/name?api-version=2021-02-01&format=text'`, 30*time.Second)
	})
	t.Run("a shutdown inside the guest shows as stopped", func(t *testing.T) {
		g := guesttest.Dial(t, addr, "azureuser", signer)
		// mngr's auto-shutdown schedules one this way; it must be accepted.
		if out, err := g.Run("sudo shutdown -P +30 'auto-shutdown test' && sudo shutdown -c"); err != nil {
			t.Errorf("scheduled shutdown: %v: %s", err, out)
		}
		if out, err := g.Run("sudo shutdown -P now"); err != nil {
			t.Logf("poweroff: %v: %s", err, out)
		}
		deadline := time.Now().Add(90 * time.Second)
		for {
			st, ok, err := b.Observe(ctx, spec.ResourceID)
			if err != nil {
				t.Fatal(err)
			}
			if ok && st == vm.PowerStopped {
				break
			}
			if time.Now().After(deadline) {
				jobs, _ := exec.CommandContext(ctx, "docker", "exec", container, "systemctl", "list-jobs", "--no-pager").CombinedOutput()
				t.Fatalf("observe after in-guest poweroff = %s %v, want stopped; jobs:\n%s", st, ok, jobs)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})
	t.Run("delete removes the machine and its disk", func(t *testing.T) {
		if err := b.Delete(ctx, spec.ResourceID); err != nil {
			t.Fatal(err)
		}
		if containerExists(t, container) {
			t.Errorf("container %s still exists", container)
		}
		if exec.CommandContext(ctx, "docker", "volume", "inspect", "azsim-"+machineKey(b.dataDir, spec.ResourceID)+"-docker").Run() == nil {
			t.Errorf("disk volume still exists")
		}
		if _, ok, err := b.Observe(ctx, spec.ResourceID); ok || err != nil {
			t.Errorf("observe after delete: ok=%v err=%v", ok, err)
		}
		if err := b.Delete(ctx, spec.ResourceID); err != nil {
			t.Errorf("second delete: %v", err)
		}
	})
}

func TestDockerMachineSurvivesAzsimRestart(t *testing.T) {
	img := testImages(t)
	img.AgentTar = "" // not needed here; boots faster
	ctx := context.Background()
	dir := t.TempDir()
	opts := Options{
		DataDir: filepath.Join(dir, "data"), Images: img, BootTimeout: 3 * time.Minute, APTProxy: testAPTProxy(t),
		IssueMIToken: func(principalID, resource string) (string, time.Time, error) {
			return "tok." + principalID, time.Now().Add(time.Hour), nil
		},
	}
	b1, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = b1.Close(context.Background(), true)
		}
	})
	spec := vm.Spec{
		ResourceID: "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Compute/virtualMachines/vm-again", Name: "vm-again",
		ComputerName: "again", AdminUser: "azureuser", PublicIP: freeLoopbackIP(t), PrincipalID: "principal-2",
	}
	if err := b1.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	container := b1.machines[strings.ToLower(spec.ResourceID)].Container

	// azsim stops: the machine stops with it, keeping its disk.
	if err := b1.Close(ctx, false); err != nil {
		t.Fatal(err)
	}
	closed = true
	out, err := exec.CommandContext(ctx, "docker", "container", "inspect", "--format", "{{.State.Status}}", container).Output()
	if err != nil || strings.TrimSpace(string(out)) != "exited" {
		t.Fatalf("after close: container %s is %q (%v), want exited", container, out, err)
	}

	// azsim starts again on the same data dir: the machine comes back with its IMDS.
	b2, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b2.Close(context.Background(), true); err != nil {
			t.Errorf("close: %v", err)
		}
		if containerExists(t, container) {
			t.Errorf("container %s left behind", container)
		}
	})
	if st, ok, err := b2.Observe(ctx, spec.ResourceID); err != nil || !ok || st != vm.PowerRunning {
		t.Fatalf("observe after reopen = %s %v %v, want running", st, ok, err)
	}
	m := b2.machines[strings.ToLower(spec.ResourceID)]
	if err := b2.waitSSH(ctx, m); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.CommandContext(ctx, "docker", "exec", container, "curl", "-fsS", "-H", "Metadata: true",
			"http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/").CombinedOutput()
		if err == nil && strings.Contains(string(out), `"access_token":"tok.principal-2"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("IMDS after reopen: %v: %s", err, out)
		}
		time.Sleep(time.Second)
	}
}
