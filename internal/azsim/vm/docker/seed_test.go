package docker

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/azsim/vm"
	"github.com/mngr-azure/mngr/internal/core"
)

const testVMID = "/subscriptions/0000-sub/resourceGroups/rg-one/providers/Microsoft.Compute/virtualMachines/vm-one"

func TestRenderGuestFiles(t *testing.T) {
	tests := []struct {
		name     string
		spec     vm.Spec
		wantUser string
		wantMeta map[string]any
		wantErr  error
	}{
		{
			name: "custom data passes through unchanged",
			spec: vm.Spec{ResourceID: testVMID, Name: "vm-one", ComputerName: "box", AdminUser: "azureuser",
				SSHPublicKeys: []string{"ssh-ed25519 AAAA one\n", " "}, CustomData: []byte("#!/bin/sh\necho hi > /tmp/x\n")},
			wantUser: "#!/bin/sh\necho hi > /tmp/x\n",
			wantMeta: map[string]any{"instance-id": "ID", "local-hostname": "box", "public-keys": []any{"ssh-ed25519 AAAA one"}},
		},
		{
			name:     "no custom data is an empty cloud-config; hostname falls back to the name",
			spec:     vm.Spec{ResourceID: testVMID, Name: "vm-one", AdminUser: "azureuser"},
			wantUser: "#cloud-config\n",
			wantMeta: map[string]any{"instance-id": "ID", "local-hostname": "vm-one", "public-keys": []any{}},
		},
		{
			name:    "an admin user that is no Linux user name",
			spec:    vm.Spec{ResourceID: testVMID, Name: "vm-one", AdminUser: "Bad User"},
			wantErr: core.ErrInvalidInput,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := renderGuestFiles(tt.spec, "ID")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if d := cmp.Diff(tt.wantUser, string(got.UserData)); d != "" {
				t.Errorf("user-data (-want +got)\n%s", d)
			}
			var meta map[string]any
			if err := json.Unmarshal(got.MetaData, &meta); err != nil {
				t.Fatalf("meta-data is not JSON/YAML: %v\n%s", err, got.MetaData)
			}
			if d := cmp.Diff(tt.wantMeta, meta); d != "" {
				t.Errorf("meta-data (-want +got)\n%s", d)
			}
			// The cloud config (after its comment line) makes the admin the default user.
			_, body, _ := strings.Cut(string(got.CloudCfg), "\n")
			var cfg struct {
				SystemInfo struct {
					DefaultUser struct {
						Name string   `json:"name"`
						Sudo []string `json:"sudo"`
					} `json:"default_user"`
				} `json:"system_info"`
			}
			if err := json.Unmarshal([]byte(body), &cfg); err != nil {
				t.Fatalf("cloud config: %v\n%s", err, got.CloudCfg)
			}
			if cfg.SystemInfo.DefaultUser.Name != tt.spec.AdminUser || len(cfg.SystemInfo.DefaultUser.Sudo) != 1 {
				t.Errorf("default user = %+v, want %q with passwordless sudo", cfg.SystemInfo.DefaultUser, tt.spec.AdminUser)
			}
		})
	}
}

func TestParseARMURL(t *testing.T) {
	tests := []struct {
		in      string
		want    armListen
		wantErr bool
	}{
		{in: "https://127.0.0.1:40123", want: armListen{Bind: "127.0.0.1", Port: "40123"}},
		{in: "https://localhost:8443/", want: armListen{Bind: "127.0.0.1", Port: "8443"}},
		{in: "https://127.0.0.5", want: armListen{Bind: "127.0.0.5", Port: "443"}},
		{in: "https://management.azure.com", wantErr: true},
		{in: "https://10.0.0.1:443", wantErr: true},
		{in: "not a url", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseARMURL(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestNames(t *testing.T) {
	k1 := machineKey("/data/a", testVMID)
	if k1 != machineKey("/data/a", strings.ToUpper(testVMID)) {
		t.Errorf("machine key depends on the resource id's case")
	}
	if k1 == machineKey("/data/b", testVMID) {
		t.Errorf("two data dirs share a machine key")
	}
	tests := []struct{ got, want string }{
		{containerName("My VM_1", "abc"), "azsim-my-vm_1-abc"},
		{containerName("---", "abc"), "azsim-abc"},
		{hostnameLabel("box_1.example"), "box-1-example"},
		{hostnameLabel(""), "azsim-vm"},
		{vmIDFor(testVMID), vmIDFor(strings.ToLower(testVMID))},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if d := cmp.Diff(resourceParts{SubscriptionID: "0000-sub", ResourceGroup: "rg-one", Name: "vm-one"}, parseResourceID(testVMID)); d != "" {
		t.Errorf("parseResourceID (-want +got)\n%s", d)
	}
}

func TestCheckPublicIP(t *testing.T) {
	for ip, ok := range map[string]bool{"127.77.0.4": true, "127.0.0.1": true, "10.1.2.3": false, "169.254.169.254": false, "": false, "::1": false} {
		if err := checkPublicIP(ip); (err == nil) != ok {
			t.Errorf("checkPublicIP(%q) = %v, want ok=%v", ip, err, ok)
		}
	}
}

func TestImagesFromEnv(t *testing.T) {
	dir := t.TempDir()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if _, err := ImagesFromEnv(env(map[string]string{EnvImagesCache: dir})); !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("no images.env: err = %v, want ErrUnavailable", err)
	}
	writeFile(t, dir+"/images.env", "# built\nMNGR_AZSIM_VM_IMAGE=mngr-azsim-vm:abc\nMNGR_AGENT_IMAGE_TAR=/c/agent.tar\n")
	got, err := ImagesFromEnv(env(map[string]string{EnvImagesCache: dir, EnvAgentTar: "/override.tar"}))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Images{VM: "mngr-azsim-vm:abc", AgentTar: "/override.tar"}, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if d := cmp.Diff(dir, ImagesCacheDir(env(map[string]string{EnvImagesCache: dir}))); d != "" {
		t.Error(d)
	}
	if d := cmp.Diff("/x/mngr-images", ImagesCacheDir(env(map[string]string{"XDG_CACHE_HOME": "/x", "HOME": "/h"}))); d != "" {
		t.Error(d)
	}
}

func TestRunArgs(t *testing.T) {
	b := &Backend{
		opts:    Options{Images: Images{VM: "mngr-azsim-vm:abc", AgentTar: "/cache/agent.tar"}, CAFile: "/data/ca.pem", PublishPorts: []int{22, 2222, 22, 0}},
		dataDir: "/data",
		root:    "/data/vm-docker",
	}
	m := &machine{Spec: vm.Spec{ResourceID: testVMID, Name: "vm-one", ComputerName: "box", PublicIP: "127.77.0.5"},
		Key: "k1", Container: "azsim-vm-one-k1", Volume: "azsim-k1-docker", HostDir: "/data/vm-docker/k1/host"}
	got := strings.Join(b.runArgs(m), " ")
	for _, want := range []string{
		"create --name azsim-vm-one-k1 --hostname box ",
		"--label dev.mngr.azsim=1 --label dev.mngr.azsim.data-dir=/data --label dev.mngr.azsim.resource-id=" + testVMID,
		"--cap-add=ALL --cap-drop=SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined",
		"--cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --device-cgroup-rule=a *:* rwm --tmpfs /run --tmpfs /run/lock",
		"-p 127.77.0.5:22:22 -p 127.77.0.5:2222:2222 -v azsim-k1-docker:/var/lib/docker",
		"-v /data/vm-docker/k1/seed:/var/lib/cloud/seed/nocloud:ro",
		"-v /data/vm-docker/k1/cloud.cfg:/etc/cloud/cloud.cfg.d/91_azsim_vm.cfg:ro",
		"-v /data/vm-docker/k1/host:/var/lib/azsim/host",
		"-v /data/ca.pem:/usr/local/share/ca-certificates/azsim-ca.crt:ro",
		"-v /cache/agent.tar:/var/lib/mngr/images/agent.tar:ro mngr-azsim-vm:abc",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("docker run args lack %q:\n%s", want, got)
		}
	}
	if strings.Count(got, ":22:22") != 1 || strings.Contains(got, "--privileged") {
		t.Errorf("ports published twice or privileged:\n%s", got)
	}
}

func TestKeepAgentTar(t *testing.T) {
	dir := t.TempDir()
	src := dir + "/cache/agent-abc.tar"
	if err := os.MkdirAll(dir+"/cache", 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, src, "image bytes")
	got, err := keepAgentTar(dir+"/data", src)
	if err != nil {
		t.Fatal(err)
	}
	if want := dir + "/data/images/agent-abc.tar"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
	// The script replaces its cached tarball: the data dir's copy stays.
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	if again, err := keepAgentTar(dir+"/data", src); err != nil || again != got {
		t.Errorf("second keep = %q, %v", again, err)
	}
	data, err := os.ReadFile(got)
	if err != nil || string(data) != "image bytes" {
		t.Errorf("kept tarball = %q, %v", data, err)
	}
}

// TestParseAPTProxy accepts loopback cache addresses only.
func TestParseAPTProxy(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:3142": "127.0.0.1:3142", "localhost:3142": "127.0.0.1:3142",
		"http://127.0.0.1:3142/": "127.0.0.1:3142", "127.0.0.2:80": "127.0.0.2:80",
	} {
		got, err := parseAPTProxy(in)
		if err != nil || got != want {
			t.Errorf("parseAPTProxy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "3142", "10.0.0.1:3142", "deb.debian.org:80", "[::1]:3142", "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:x"} {
		if got, err := parseAPTProxy(in); err == nil {
			t.Errorf("parseAPTProxy(%q) = %q, want an error", in, got)
		}
	}
}
