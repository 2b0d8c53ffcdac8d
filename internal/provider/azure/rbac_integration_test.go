//go:build azsim

package azure

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// clientAs is a Client of e's azsim that signs in as clientID in subscription sub.
func (e *faultEnv) clientAs(clientID, secret, sub string) *Client {
	e.t.Helper()
	cfg := DefaultConfig()
	cfg.SubscriptionID = sub
	cfg.ResourceManagerEndpoint, cfg.ResourceManagerAudience, cfg.AuthorityHost = e.ep.ARM, e.ep.Audience, e.ep.AuthorityHost
	if err := cfg.Validate(); err != nil {
		e.t.Fatal(err)
	}
	cc, err := cfg.cloudConfig()
	if err != nil {
		e.t.Fatal(err)
	}
	cred, err := azidentity.NewClientSecretCredential(e.ep.TenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: cc, Transport: e.hc}, DisableInstanceDiscovery: true})
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := NewClient("azure", cfg, ClientOptions{Credential: cred, Transport: e.hc, PollFrequency: 10 * time.Millisecond})
	if err != nil {
		e.t.Fatal(err)
	}
	c.assignPauses = []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}
	return c
}

func (e *faultEnv) adminJSON(path string, out any) {
	e.t.Helper()
	if err := json.Unmarshal(e.admin(http.MethodPost, path, ""), out); err != nil {
		e.t.Fatal(err)
	}
}

// requestsMatching counts azsim's logged ARM requests by method, path suffix and status.
func requestsMatching(t *testing.T, dir, method, pathSuffix string, status int) int {
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
		var l struct {
			Method string `json:"method"`
			Path   string `json:"path"`
			Status int    `json:"status"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Method == method && strings.HasSuffix(strings.ToLower(l.Path), strings.ToLower(pathSuffix)) && l.Status == status {
			n++
		}
	}
	return n
}

// TestAzsimIdentityRules runs mngr against what a real tenant refuses:
// a second subscription whose prepare meets the first one's custom roles,
// an identity with Contributor on the resource group only, and a new
// shared identity the directory has not replicated yet.
func TestAzsimIdentityRules(t *testing.T) {
	e := newFaultEnv(t)
	ctx := t.Context()
	pa, _, _ := e.c.ParseBuildArgs(nil)
	req := func(name string) vps.CreateInstanceRequest {
		return vps.CreateInstanceRequest{HostID: core.NewHostID(), HostName: name, UserData: []byte("#cloud-config\n"),
			AdminPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxkNHiKDaFYV8wXjiqtgtnRTJLx3hc3i2wUmfRe4Hv3 test", ProviderArgs: pa}
	}
	owner := e.clientAs(e.ep.ClientID, e.ep.ClientSecret, e.ep.SubscriptionID)
	if _, err := owner.Prepare(ctx, PrepareOptions{RegistrationTimeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}

	t.Run("second subscription of the tenant", func(t *testing.T) {
		e.t = t
		var sub struct {
			ID string `json:"subscription_id"`
		}
		e.adminJSON("/subscriptions", &sub)
		second := e.clientAs(e.ep.ClientID, e.ep.ClientSecret, sub.ID)
		prog := &recordingProgress{}
		res, err := second.Prepare(core.WithProgress(ctx, prog), PrepareOptions{RegistrationTimeout: 30 * time.Second})
		if err != nil {
			t.Fatalf("prepare in the second subscription: %v", err)
		}
		for _, w := range res.Warnings {
			if strings.Contains(w, roleName) {
				t.Errorf("prepare warned about the role: %s", w)
			}
		}
		role, found, err := second.findRole(ctx)
		if err != nil || !found {
			t.Fatalf("find role: %v %v", found, err)
		}
		want := []string{"/subscriptions/" + e.ep.SubscriptionID + "/resourceGroups/mngr", "/subscriptions/" + sub.ID + "/resourceGroups/mngr"}
		if d := cmp.Diff(want, roleScopes(role)); d != "" {
			t.Errorf("one role for both subscriptions, scopes (-want +got)\n%s", d)
		}
		// Its cleanup takes only its own group out of the role.
		if _, err := second.Cleanup(ctx); err != nil {
			t.Fatal(err)
		}
		role, _, err = owner.findRole(ctx)
		if err != nil || !cmp.Equal(want[:1], roleScopes(role)) {
			t.Errorf("after the second subscription's cleanup the role has scopes %v (%v), want %v", roleScopes(role), err, want[:1])
		}
	})

	t.Run("contributor on the resource group only", func(t *testing.T) {
		e.t = t
		inst, err := owner.CreateInstance(ctx, req("rg-only"))
		if err != nil {
			t.Fatal(err)
		}
		var sp struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
			ObjectID     string `json:"object_id"`
		}
		e.adminJSON("/principals", &sp)
		rg := "/subscriptions/" + e.ep.SubscriptionID + "/resourceGroups/mngr"
		if _, err := owner.roles.Create(ctx, rg, deterministicGUID(rg, sp.ObjectID, "contributor"), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
			PrincipalID: to.Ptr(sp.ObjectID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
			RoleDefinitionID: to.Ptr("/subscriptions/" + e.ep.SubscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c")}}, nil); err != nil {
			t.Fatalf("assign Contributor on %s: %v", rg, err)
		}
		c := e.clientAs(sp.ClientID, sp.ClientSecret, e.ep.SubscriptionID)
		listAllPath := "/subscriptions/" + e.ep.SubscriptionID + "/providers/Microsoft.Compute/virtualMachines"
		got, err := c.GetInstance(ctx, inst.HostID)
		if err != nil || got.Status != vps.StatusActive {
			t.Fatalf("get as RG contributor: %+v %v", got, err)
		}
		if err := c.StopInstance(ctx, inst.HostID); err != nil {
			t.Fatalf("stop as RG contributor: %v", err)
		}
		if got, err = c.GetInstance(ctx, inst.HostID); err != nil || got.Status != vps.StatusStopped {
			t.Fatalf("after stop: %+v %v", got, err)
		}
		if got, err = c.StartInstance(ctx, inst.HostID); err != nil || got.PublicIP != inst.PublicIP {
			t.Fatalf("start as RG contributor: %+v %v", got, err)
		}
		if got, err = c.GetInstance(ctx, inst.HostID); err != nil || got.Status != vps.StatusActive {
			t.Fatalf("after start: %+v %v", got, err)
		}
		if n := requestsMatching(t, e.dir, http.MethodGet, listAllPath, http.StatusForbidden); n != 1 {
			t.Errorf("%d refused subscription-wide lists, want 1 (then per-VM instance views)", n)
		}
		if err := c.DestroyInstance(ctx, inst.HostID); err != nil {
			t.Fatalf("destroy as RG contributor: %v", err)
		}
	})

	t.Run("shared identity not replicated yet", func(t *testing.T) {
		e.t = t
		for _, tt := range []struct {
			name, fault string
			wantWarning bool
		}{
			{"replicated after two refusals", `{"method":"PUT","path":"/roleAssignments/","status":400,"code":"PrincipalNotFound","count":2}`, false},
			{"never replicated", `{"method":"PUT","path":"/roleAssignments/","status":400,"code":"PrincipalNotFound"}`, true},
		} {
			// A fresh identity, as on the first prepare.
			if err := owner.removeIdentity(ctx); err != nil {
				t.Fatal(err)
			}
			e.fault(tt.fault)
			prog := &recordingProgress{}
			res, err := owner.Prepare(core.WithProgress(ctx, prog), PrepareOptions{RegistrationTimeout: 30 * time.Second})
			e.fault("")
			if err != nil {
				t.Fatalf("%s: prepare: %v", tt.name, err)
			}
			warned := slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "PrincipalNotFound") })
			if warned != tt.wantWarning {
				t.Errorf("%s: warnings %v, want a PrincipalNotFound warning %v", tt.name, res.Warnings, tt.wantWarning)
			}
			// The contributor's assignment, plus the identity's unless it never replicated.
			if n, want := e.counts()["role"], map[bool]int{false: 2, true: 1}[tt.wantWarning]; n != want {
				t.Errorf("%s: azsim holds %d role assignments, want %d", tt.name, n, want)
			}
			// A create still attaches the identity; without the role it
			// simply cannot deallocate, which the next prepare fixes.
			inst, err := owner.CreateInstance(ctx, req("pnf"))
			if err != nil {
				t.Fatalf("%s: create: %v", tt.name, err)
			}
			if err := owner.DestroyInstance(ctx, inst.HostID); err != nil {
				t.Fatal(err)
			}
		}
	})
	e.t = t
}
