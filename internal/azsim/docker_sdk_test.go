package azsim_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"golang.org/x/crypto/ssh"

	"github.com/mngr-azure/mngr/internal/azsim"
	"github.com/mngr-azure/mngr/internal/azsim/vm"
	"github.com/mngr-azure/mngr/internal/azsim/vm/docker"
	"github.com/mngr-azure/mngr/internal/azsim/vm/docker/guesttest"
	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/testenv"
)

// dockerImages returns the simulated-VM images, skipping the test when the
// machine cannot boot real VMs.
func dockerImages(t *testing.T) docker.Images {
	t.Helper()
	if testing.Short() {
		t.Skip("boots real machines; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, "docker", "version").Run(); err != nil {
		testenv.Missing(t, "dockerd is not answering: %v", err)
	}
	img, err := docker.ImagesFromEnv(os.Getenv)
	if errors.Is(err, core.ErrUnavailable) {
		testenv.Missing(t, "simulated-VM image not built (run scripts/setup.sh): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.CommandContext(ctx, "docker", "image", "inspect", img.VM).Run(); err != nil {
		testenv.Missing(t, "image %s is not in dockerd (run scripts/setup.sh): %v", img.VM, err)
	}
	img.AgentTar = "" // these VMs run no agent container; they boot faster without it
	return img
}

// startDockerSim runs azsim with the docker VM backend until the test ends,
// and checks at the end that none of its containers is left.
func startDockerSim(t *testing.T) *sim {
	t.Helper()
	img := dockerImages(t)
	proxy, err := docker.LocalAPTProxy(context.Background(), os.Getenv)
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	s := startSimOpts(t, azsim.Options{NewBackend: func(ctx context.Context, info azsim.BackendInfo) (vm.Backend, error) {
		return docker.New(ctx, docker.Options{DataDir: info.DataDir, ARMURL: info.ARMURL, ARMSocket: info.ARMSocket,
			CAFile: info.CAFile, IssueMIToken: info.IssueMIToken, Images: img, BootTimeout: 4 * time.Minute, APTProxy: proxy})
	}})
	t.Cleanup(func() {
		ctx := context.Background()
		s.stop()
		// What `azsim stop --reset` does: remove every machine of this data dir.
		b, err := docker.New(ctx, docker.Options{DataDir: s.dir, Images: img})
		if err == nil {
			err = b.Close(ctx, true)
		}
		if err != nil {
			t.Errorf("reset docker backend: %v", err)
		}
		out, _ := exec.CommandContext(ctx, "docker", "ps", "-aq", "--filter", "label="+docker.LabelDataDir+"="+s.dir).Output()
		if len(strings.TrimSpace(string(out))) != 0 {
			t.Errorf("containers left behind: %s", out)
		}
	})
	return s
}

// newAdminKey returns an SSH key pair for a VM's admin user.
func newAdminKey(t *testing.T) (authorized string, signer ssh.Signer) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	signer, err = ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(ssh.MarshalAuthorizedKey(sp)), signer
}

// realVM is vmParams for a machine the admin can log in to, with customData.
func realVM(nicID, computerName, authorized, customData string) armcompute.VirtualMachine {
	v := vmParams(nicID, "Standard_B1s")
	v.Properties.OSProfile.ComputerName = to.Ptr(computerName)
	v.Properties.OSProfile.AdminUsername = to.Ptr("azureuser")
	v.Properties.OSProfile.CustomData = to.Ptr(base64.StdEncoding.EncodeToString([]byte(customData)))
	v.Properties.OSProfile.LinuxConfiguration.SSH.PublicKeys = []*armcompute.SSHPublicKey{{
		Path: to.Ptr("/home/azureuser/.ssh/authorized_keys"), KeyData: to.Ptr(authorized)}}
	return v
}

func (c *clients) powerState(ctx context.Context, t *testing.T, rg, name string) string {
	t.Helper()
	iv, err := c.vm.InstanceView(ctx, rg, name, nil)
	if err != nil {
		t.Fatalf("instance view: %v", err)
	}
	for _, st := range iv.Statuses {
		if st.Code != nil && strings.HasPrefix(*st.Code, "PowerState/") {
			return strings.TrimPrefix(*st.Code, "PowerState/")
		}
	}
	return ""
}

// waitPower polls the instance view until the VM reports want.
func (c *clients) waitPower(ctx context.Context, t *testing.T, rg, name, want string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got := c.powerState(ctx, t, rg, name)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("VM %s power state = %q after %s, want %q", name, got, limit, want)
		}
		time.Sleep(time.Second)
	}
}

type vmBilling struct {
	VMs []struct {
		ID         string `json:"id"`
		PowerState string `json:"power_state"`
		Billing    bool   `json:"billing"`
	} `json:"vms"`
}

func (s *sim) billing(t *testing.T, id string) (power string, billing, found bool) {
	t.Helper()
	var st vmBilling
	s.admin(t, "GET", "/state", "", &st)
	for _, v := range st.VMs {
		if strings.EqualFold(v.ID, id) {
			return v.PowerState, v.Billing, true
		}
	}
	return "", false, false
}

func containersOf(t *testing.T, dir string) []string {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), "docker", "ps", "-aq", "--filter", "label="+docker.LabelDataDir+"="+dir).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return strings.Fields(string(out))
}

// TestDockerVMsThroughSDK drives the docker backend the way mngr does:
// through the Azure SDK against a running azsim.
func TestDockerVMsThroughSDK(t *testing.T) {
	s := startDockerSim(t)
	c := newClients(t, s)
	ctx := context.Background()
	authorized, signer := newAdminKey(t)

	nicID, pipID := c.network(ctx, t, "rg-real", "box")
	customData := "#cloud-config\nwrite_files:\n  - path: /var/lib/sdk-test/marker\n    content: from-custom-data\n"
	poller, err := c.vm.BeginCreateOrUpdate(ctx, "rg-real", "box", realVM(nicID, "box-host", authorized, customData), nil)
	if err != nil {
		t.Fatal(err)
	}
	created, err := poller.PollUntilDone(ctx, poll)
	if err != nil {
		t.Fatalf("create VM: %v", err)
	}
	if got := *created.Properties.ProvisioningState; got != "Succeeded" {
		t.Fatalf("provisioningState = %q", got)
	}
	pipName := pipID[strings.LastIndex(pipID, "/")+1:]
	pip, err := c.pip.Get(ctx, "rg-real", pipName, nil)
	if err != nil {
		t.Fatal(err)
	}
	ip := *pip.Properties.IPAddress
	if !strings.HasPrefix(ip, "127.77.") {
		t.Fatalf("public IP %q is not a simulated VM address", ip)
	}
	addr := net.JoinHostPort(ip, "22")
	g := guesttest.Dial(t, addr, "azureuser", signer)
	firstKey := g.HostKey
	if got := g.Eventually(t, "cat /var/lib/sdk-test/marker", 2*time.Minute); got != "from-custom-data" {
		t.Errorf("custom data file = %q", got)
	}
	if got, _ := g.Run("hostname"); got != "box-host" {
		t.Errorf("hostname = %q, want the computer name", got)
	}
	if _, err := g.Run("echo survives > ~/kept"); err != nil {
		t.Fatal(err)
	}
	if got := c.powerState(ctx, t, "rg-real", "box"); got != "running" {
		t.Errorf("power state after create = %q", got)
	}

	t.Run("deallocate and start keep IP, host key and files", func(t *testing.T) {
		dp, err := c.vm.BeginDeallocate(ctx, "rg-real", "box", nil)
		if err == nil {
			_, err = dp.PollUntilDone(ctx, poll)
		}
		if err != nil {
			t.Fatalf("deallocate: %v", err)
		}
		if p, billing, _ := s.billing(t, *created.ID); p != "deallocated" || billing {
			t.Errorf("after deallocate: power %q billing %v, want deallocated and not billing", p, billing)
		}
		sp, err := c.vm.BeginStart(ctx, "rg-real", "box", nil)
		if err == nil {
			_, err = sp.PollUntilDone(ctx, poll)
		}
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		again, err := c.pip.Get(ctx, "rg-real", pipName, nil)
		if err != nil || *again.Properties.IPAddress != ip {
			t.Fatalf("IP after start = %v (%v), want %s", again.Properties, err, ip)
		}
		g2 := guesttest.Dial(t, addr, "azureuser", signer)
		if g2.HostKey != firstKey {
			t.Errorf("host key changed across deallocate/start")
		}
		if got, _ := g2.Run("cat ~/kept"); got != "survives" {
			t.Errorf("file after start = %q", got)
		}
	})

	t.Run("IMDS token deallocates the VM only with the role assignment", func(t *testing.T) {
		g := guesttest.Dial(t, addr, "azureuser", signer)
		// What mngr's in-guest script does: token and own id from IMDS, then
		// ARM at the address mngr was configured with.
		script := `tok=$(curl -fsS -H Metadata:true 'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=` + s.ep.Audience + `' | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])') && ` +
			`id=$(curl -fsS -H Metadata:true 'http://169.254.169.254/metadata/instance/compute/resourceId?api-version=2021-02-01&format=text') && ` +
			`curl -sS -o /tmp/arm-answer -w '%{http_code}' -X POST -H "Authorization: Bearer $tok" "` + s.ep.ARM + `$id/deallocate?api-version=2024-07-01"`
		code := g.Eventually(t, script, time.Minute)
		if code != "403" {
			out, _ := g.Run("cat /tmp/arm-answer")
			t.Fatalf("deallocate without a role assignment: HTTP %s (%s), want 403", code, out)
		}
		if got := c.powerState(ctx, t, "rg-real", "box"); got != "running" {
			t.Fatalf("refused deallocate changed the power state to %q", got)
		}
		defs, err := armauthorization.NewRoleDefinitionsClient(s.cred, s.opts)
		if err != nil {
			t.Fatal(err)
		}
		assigns, err := armauthorization.NewRoleAssignmentsClient(s.ep.SubscriptionID, s.cred, s.opts)
		if err != nil {
			t.Fatal(err)
		}
		sub := "/subscriptions/" + s.ep.SubscriptionID
		def, err := defs.CreateOrUpdate(ctx, sub, "6f1d1b2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b", armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
			RoleName: to.Ptr("sdk-test self-deallocate"), RoleType: to.Ptr("CustomRole"),
			Permissions: []*armauthorization.Permission{{Actions: []*string{to.Ptr("Microsoft.Compute/virtualMachines/read"),
				to.Ptr("Microsoft.Compute/virtualMachines/deallocate/action")}}},
			AssignableScopes: []*string{to.Ptr(sub)}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := assigns.Create(ctx, *created.ID, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", armauthorization.RoleAssignmentCreateParameters{
			Properties: &armauthorization.RoleAssignmentProperties{RoleDefinitionID: def.ID, PrincipalID: created.Identity.PrincipalID,
				PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}, nil); err != nil {
			t.Fatalf("role assignment: %v", err)
		}
		// The guest's request is the last thing it does: the machine stops under it.
		code, _ = g.Run("rm -f /tmp/arm-answer; " + script)
		if code != "202" && code != "200" {
			out, _ := g.Run("cat /tmp/arm-answer")
			t.Logf("deallocate answer: HTTP %q %s (the connection may drop as the machine stops)", code, out)
		}
		c.waitPower(ctx, t, "rg-real", "box", "deallocated", 2*time.Minute)
		if _, billing, _ := s.billing(t, *created.ID); billing {
			t.Errorf("self-deallocated VM still billing")
		}
	})

	t.Run("an in-guest shutdown leaves the VM stopped and billing", func(t *testing.T) {
		sp, err := c.vm.BeginStart(ctx, "rg-real", "box", nil)
		if err == nil {
			_, err = sp.PollUntilDone(ctx, poll)
		}
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		g := guesttest.Dial(t, addr, "azureuser", signer)
		_, _ = g.Run("sudo shutdown -P now") // the session ends with the machine
		c.waitPower(ctx, t, "rg-real", "box", "stopped", 2*time.Minute)
		if p, billing, _ := s.billing(t, *created.ID); p != "stopped" || !billing {
			t.Errorf("after in-guest shutdown: power %q billing %v, want stopped and billing", p, billing)
		}
	})

	t.Run("delete removes the machine", func(t *testing.T) {
		dp, err := c.vm.BeginDelete(ctx, "rg-real", "box", nil)
		if err == nil {
			_, err = dp.PollUntilDone(ctx, poll)
		}
		if err != nil {
			t.Fatalf("delete: %v", err)
		}
		if left := containersOf(t, s.dir); len(left) != 0 {
			t.Errorf("containers after delete: %v", left)
		}
	})

	t.Run("a spot eviction with policy Delete deletes the VM", func(t *testing.T) {
		nicID, _ := c.network(ctx, t, "rg-real", "spot")
		v := realVM(nicID, "spot-host", authorized, "#cloud-config\n")
		// Azure sells no B-series size as Spot: use a Spot-capable size.
		v.Properties.HardwareProfile.VMSize = to.Ptr(armcompute.VirtualMachineSizeTypes("Standard_D2as_v5"))
		v.Properties.Priority = to.Ptr(armcompute.VirtualMachinePriorityTypesSpot)
		v.Properties.EvictionPolicy = to.Ptr(armcompute.VirtualMachineEvictionPolicyTypesDelete)
		v.Properties.BillingProfile = &armcompute.BillingProfile{MaxPrice: to.Ptr[float64](-1)}
		p, err := c.vm.BeginCreateOrUpdate(ctx, "rg-real", "spot", v, nil)
		if err != nil {
			t.Fatal(err)
		}
		spot, err := p.PollUntilDone(ctx, poll)
		if err != nil {
			t.Fatalf("create spot VM: %v", err)
		}
		if n := len(containersOf(t, s.dir)); n != 1 {
			t.Fatalf("containers for the spot VM = %d, want 1", n)
		}
		if code := s.admin(t, "POST", "/vms/evict", `{"id":"`+*spot.ID+`"}`, nil); code != 200 {
			t.Fatalf("evict: HTTP %d", code)
		}
		_, err = c.vm.Get(ctx, "rg-real", "spot", nil)
		if errCode(err) != "ResourceNotFound" {
			t.Errorf("GET after eviction: %v, want ResourceNotFound", err)
		}
		if left := containersOf(t, s.dir); len(left) != 0 {
			t.Errorf("containers after eviction: %v", left)
		}
	})
}
