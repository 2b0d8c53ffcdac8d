package vps_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/sshx"
	"github.com/mngr-azure/mngr/internal/vps"
)

// pinLine is the known_hosts line that pins pub for ip:port.
func pinLine(ip string, port int, pub string) string {
	f := strings.Fields(pub)
	return sshx.HostPattern(ip, port) + " " + f[0] + " " + f[1]
}

// knownHosts returns the lines of a known_hosts file (none when missing).
func knownHosts(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(b), " ", "\x00"))
}

// wantPins checks the two known_hosts files hold exactly the lines given.
func wantPins(t *testing.T, keys *vps.Keys, vm, ctr []string) {
	t.Helper()
	for file, want := range map[string][]string{keys.VMKnownHosts: vm, keys.ContainerKnownHosts: ctr} {
		var got []string
		for _, l := range knownHosts(t, file) {
			got = append(got, strings.ReplaceAll(l, "\x00", " "))
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got)\n%s", filepath.Base(file), d)
		}
	}
}

// yamlText returns every string in a YAML document, one after another, so
// a test can look for a value whatever its YAML quoting or indentation.
func yamlText(t *testing.T, doc []byte) string {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			b.WriteString(v + "\n")
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return b.String()
}

// TestHostsHaveTheirOwnHostKeys creates two hosts on two fake VMs that serve
// exactly the keys mngr hands them (user data, container setup script), and
// checks each host has host keys of its own, pinned before the first
// connection, that no host is handed another's key, that a stop and start
// pins the right key again, and that destroy removes the host's key dir
// and every known_hosts line of its keys while the other host still
// connects.
func TestHostsHaveTheirOwnHostKeys(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	keyDir := filepath.Join(t.TempDir(), "keys")
	r := newDropRig(t, keyDir, dropConfig{})
	keys, err := r.p.Keys()
	if err != nil {
		t.Fatal(err)
	}
	fvA := r.fv
	fvB := newFakeVM(t, keys, fvA.ctr.Port())
	port := fvA.ctr.Port()

	var userData []string
	create := func(name string, fv *fakeVM) (*core.Host, *vps.HostKeys) {
		t.Helper()
		r.cloud.NextIP = fv.ip
		r.cloud.BeforeCreate = func(req vps.CreateInstanceRequest) error {
			userData = append(userData, yamlText(t, req.UserData))
			return fv.boot(req)
		}
		h, err := r.p.CreateHost(ctx, core.CreateHostRequest{Name: name})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		hk, err := vps.LoadHostKeys(keyDir, h.ID)
		if err != nil {
			t.Fatal(err)
		}
		if hk.Shared() || hk.Dir != vps.HostKeyDir(keyDir, h.ID) {
			t.Fatalf("host %s uses %+v, want keys of its own", name, hk)
		}
		// The fake sshds serve what mngr handed them; the create only
		// connected because those are the keys it pinned.
		if fv.vm.HostPublicKey() != strings.Join(strings.Fields(hk.VMHostKeyPub)[:2], " ") ||
			fv.ctr.HostPublicKey() != strings.Join(strings.Fields(hk.ContainerHostKeyPub)[:2], " ") {
			t.Errorf("host %s: fake VM serves %q / %q, want %q / %q", name, fv.vm.HostPublicKey(), fv.ctr.HostPublicKey(),
				hk.VMHostKeyPub, hk.ContainerHostKeyPub)
		}
		return h, hk
	}
	ha, ka := create("ha", fvA)
	hb, kb := create("hb", fvB)

	if ka.VMHostKeyPub == kb.VMHostKeyPub || ka.ContainerHostKeyPub == kb.ContainerHostKeyPub || ka.VMHostKeyPub == ka.ContainerHostKeyPub {
		t.Fatalf("hosts share host keys: a %+v, b %+v", ka, kb)
	}
	wantPins(t, keys,
		[]string{pinLine(fvA.ip, 22, ka.VMHostKeyPub), pinLine(fvB.ip, 22, kb.VMHostKeyPub)},
		[]string{pinLine(fvA.ip, port, ka.ContainerHostKeyPub), pinLine(fvB.ip, port, kb.ContainerHostKeyPub)})

	// Each VM's user data and each container's setup carry that host's own
	// private key and no other host's (nor the VM's key into the container).
	pem := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	pemAVM, pemACtr, pemBVM, pemBCtr := pem(ka.VMHostKey), pem(ka.ContainerHostKey), pem(kb.VMHostKey), pem(kb.ContainerHostKey)
	for _, c := range []struct {
		what, text, own string
		foreign         []string
	}{
		{"user data of a", userData[0], pemAVM, []string{pemACtr, pemBVM, pemBCtr}},
		{"user data of b", userData[1], pemBVM, []string{pemAVM, pemACtr, pemBCtr}},
		{"container setup of a", strings.Join(fvA.ctrSetups, ""), pemACtr, []string{pemAVM, pemBVM, pemBCtr}},
		{"container setup of b", strings.Join(fvB.ctrSetups, ""), pemBCtr, []string{pemAVM, pemACtr, pemBVM}},
	} {
		if !strings.Contains(c.text, strings.TrimSpace(c.own)) {
			t.Errorf("%s lacks its own host key", c.what)
		}
		for _, f := range c.foreign {
			if strings.Contains(c.text, strings.TrimSpace(f)) {
				t.Errorf("%s carries a key that is not its own", c.what)
			}
		}
		if n := strings.Count(c.text, "BEGIN OPENSSH PRIVATE KEY"); n != 1 {
			t.Errorf("%s carries %d private keys, want 1", c.what, n)
		}
	}

	// The endpoint pins the host's own container key; a stop and start pins
	// its own keys again (here after the pins were lost).
	if err := os.Remove(keys.ContainerKnownHosts); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keys.VMKnownHosts); err != nil {
		t.Fatal(err)
	}
	if _, err := r.p.SSHEndpoint(ctx, hb.ID); err != nil {
		t.Fatal(err)
	}
	wantPins(t, keys, nil, []string{pinLine(fvB.ip, port, kb.ContainerHostKeyPub)})
	if err := r.p.StopHost(ctx, ha.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.p.StartHost(ctx, ha.ID); err != nil {
		t.Fatalf("start a: %v", err)
	}
	wantPins(t, keys, []string{pinLine(fvA.ip, 22, ka.VMHostKeyPub)},
		[]string{pinLine(fvB.ip, port, kb.ContainerHostKeyPub), pinLine(fvA.ip, port, ka.ContainerHostKeyPub)})

	// Host a's keys also pinned at an address it had before: destroy drops
	// them there too, by key.
	if err := sshx.PinHostKey(keys.VMKnownHosts, "127.0.0.3", 22, ka.VMHostKeyPub); err != nil {
		t.Fatal(err)
	}
	if err := r.p.DestroyHost(ctx, ha.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ka.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("destroy left host a's key dir: %v", err)
	}
	wantPins(t, keys, nil, []string{pinLine(fvB.ip, port, kb.ContainerHostKeyPub)})
	if _, err := r.p.ConnectHost(ctx, hb.ID); err != nil {
		t.Errorf("host b after a's destroy: %v", err)
	}
	if _, err := os.Stat(kb.Dir); err != nil {
		t.Errorf("host b's keys: %v", err)
	}
}

// TestGCRemovesHostKeysOfVanishedHosts checks gc removes the key dir and
// pins of a host the cloud no longer lists, once the dir is an hour old;
// keeps a younger one (a create in another process may not have its VM
// yet) and the keys of live hosts; and a dry run changes nothing.
func TestGCRemovesHostKeysOfVanishedHosts(t *testing.T) {
	ctx := context.Background()
	keyDir := filepath.Join(t.TempDir(), "keys")
	r := newDropRig(t, keyDir, dropConfig{})
	keys, err := r.p.Keys()
	if err != nil {
		t.Fatal(err)
	}
	live, gone, young := core.NewHostID(), core.NewHostID(), core.NewHostID()
	r.cloud.Put(vps.Instance{HostID: live, HostName: "live", Status: vps.StatusStopped, PublicIP: "127.0.0.4"}, nil)
	hks := map[core.HostID]*vps.HostKeys{}
	for i, id := range []core.HostID{live, gone, young} {
		hk, err := vps.CreateHostKeys(keyDir, id)
		if err != nil {
			t.Fatal(err)
		}
		hks[id] = hk
		ip := "127.0.0." + string(rune('4'+i))
		if err := sshx.PinHostKey(keys.VMKnownHosts, ip, 22, hk.VMHostKeyPub); err != nil {
			t.Fatal(err)
		}
		if err := sshx.PinHostKey(keys.ContainerKnownHosts, ip, 2222, hk.ContainerHostKeyPub); err != nil {
			t.Fatal(err)
		}
		if id != young {
			old := time.Now().Add(-2 * time.Hour)
			if err := os.Chtimes(hk.Dir, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Not a host id: not mngr's, never touched.
	stray := filepath.Join(keyDir, "hosts", "notes")
	if err := os.MkdirAll(stray, 0o700); err != nil {
		t.Fatal(err)
	}
	wantItems := []core.GCItem{{Kind: "host keys", Name: string(gone), ID: hks[gone].Dir,
		Reason: "ssh host keys of a host that no longer exists"}}
	vmPins := func() []string {
		var out []string
		for _, l := range knownHosts(t, keys.VMKnownHosts) {
			out = append(out, strings.ReplaceAll(l, "\x00", " "))
		}
		return out
	}
	before := vmPins()

	items, err := r.p.CollectGarbage(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantItems, items); d != "" {
		t.Errorf("dry run (-want +got)\n%s", d)
	}
	if _, err := os.Stat(hks[gone].Dir); err != nil || len(vmPins()) != len(before) {
		t.Errorf("dry run changed something: %v, pins %q", err, vmPins())
	}

	items, err = r.p.CollectGarbage(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	wantItems[0].Done = true
	if d := cmp.Diff(wantItems, items); d != "" {
		t.Errorf("gc (-want +got)\n%s", d)
	}
	for id, want := range map[core.HostID]bool{live: true, gone: false, young: true} {
		if _, err := os.Stat(hks[id].Dir); (err == nil) != want {
			t.Errorf("key dir of %s exists=%v, want %v", id, err == nil, want)
		}
	}
	wantPins(t, keys,
		[]string{pinLine("127.0.0.4", 22, hks[live].VMHostKeyPub), pinLine("127.0.0.6", 22, hks[young].VMHostKeyPub)},
		[]string{pinLine("127.0.0.4", 2222, hks[live].ContainerHostKeyPub), pinLine("127.0.0.6", 2222, hks[young].ContainerHostKeyPub)})
	if _, err := os.Stat(stray); err != nil {
		t.Errorf("gc touched a dir that is not a host's: %v", err)
	}
	if items, err := r.p.CollectGarbage(ctx, false); err != nil || len(items) != 0 {
		t.Errorf("second gc = %+v, %v; want nothing", items, err)
	}
}

// TestHostWithSharedKeysStillWorks plays a host created before per-host
// keys: its VM and container present the provider instance's shared host
// keys, and it has no key dir of its own. Start, connect and the endpoint
// pin the shared keys; destroy drops its pins by address and leaves the
// shared files for the other such hosts.
func TestHostWithSharedKeysStillWorks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	keyDir := filepath.Join(t.TempDir(), "keys")
	r := newDropRig(t, keyDir, dropConfig{})
	keys, err := r.p.Keys()
	if err != nil {
		t.Fatal(err)
	}
	vmPub, err := sshx.EnsureKey(filepath.Join(keyDir, "vm_host_key"), "mngr-vm-host")
	if err != nil {
		t.Fatal(err)
	}
	ctrPub, err := sshx.EnsureKey(filepath.Join(keyDir, "container_host_key"), "mngr-container-host")
	if err != nil {
		t.Fatal(err)
	}
	for srv, file := range map[interface{ SetHostKey([]byte) error }]string{r.fv.vm: "vm_host_key", r.fv.ctr: "container_host_key"} {
		b, err := os.ReadFile(filepath.Join(keyDir, file))
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.SetHostKey(b); err != nil {
			t.Fatal(err)
		}
	}
	old := vps.Instance{HostID: core.NewHostID(), HostName: "h1", Status: vps.StatusStopped, PublicIP: r.fv.ip}
	r.cloud.Put(old, nil)
	r.fv.containers["mngr-h1"] = string(old.HostID)

	h, err := r.p.StartHost(ctx, old.HostID)
	if err != nil {
		t.Fatalf("start a host with shared keys: %v", err)
	}
	if res, err := h.Exec.Run(ctx, "echo ok", core.RunOptions{}); err != nil || res.Stdout != "ok\n" {
		t.Fatalf("run on it: %+v, %v", res, err)
	}
	if _, err := r.p.SSHEndpoint(ctx, old.HostID); err != nil {
		t.Fatal(err)
	}
	wantPins(t, keys, []string{pinLine(r.fv.ip, 22, vmPub)}, []string{pinLine(r.fv.ip, r.fv.ctr.Port(), ctrPub)})
	if _, err := os.Stat(vps.HostKeyDir(keyDir, old.HostID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a key dir was made for an old host: %v", err)
	}
	if err := r.p.DestroyHost(ctx, old.HostID); err != nil {
		t.Fatal(err)
	}
	wantPins(t, keys, nil, nil)
	for _, f := range []string{"vm_host_key", "container_host_key"} {
		if _, err := os.Stat(filepath.Join(keyDir, f)); err != nil {
			t.Errorf("destroy removed the shared %s: %v", f, err)
		}
	}
}
