package azure

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// A new VM's identity may not have reached the directory yet: the role
// assignment's PrincipalNotFound is retried with pauses, and only when it
// lasts past them is self-deallocate disabled.
func TestAssignRetriesPrincipalNotFound(t *testing.T) {
	for _, tt := range []struct {
		name        string
		notFound    int
		wantTries   int
		wantWarning bool
	}{
		{"replicated at once", 0, 1, false},
		{"replicated on the third try", 2, 3, false},
		{"never replicated", 100, 4, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cf := newCreateFakes("", "", http.StatusCreated)
			var tries int
			var roleIDs []string
			cf.f.authz.RoleAssignmentsServer.Create = func(_ context.Context, _, _ string, p armauthorization.RoleAssignmentCreateParameters, _ *armauthorization.RoleAssignmentsClientCreateOptions) (resp azfake.Responder[armauthorization.RoleAssignmentsClientCreateResponse], errResp azfake.ErrorResponder) {
				tries++
				roleIDs = append(roleIDs, *p.Properties.RoleDefinitionID)
				if tries <= tt.notFound {
					errResp.SetResponseError(http.StatusBadRequest, "PrincipalNotFound")
					return
				}
				resp.SetResponse(http.StatusCreated, armauthorization.RoleAssignmentsClientCreateResponse{}, nil)
				return
			}
			c := newFakeClient(t, cf.f)
			c.assignPauses = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
			prog := &recordingProgress{}
			if _, err := c.CreateInstance(core.WithProgress(t.Context(), prog), createReq(false)); err != nil {
				t.Fatal(err)
			}
			if tries != tt.wantTries {
				t.Errorf("%d role assignment tries, want %d", tries, tt.wantTries)
			}
			if got := len(prog.warnings) > 0; got != tt.wantWarning {
				t.Errorf("warnings %v, want warning=%v", prog.warnings, tt.wantWarning)
			}
			if got := slices.Contains(prog.failed, "granting the self-deallocate role"); got != tt.wantWarning {
				t.Errorf("failed steps %v: role step failed=%v, want %v", prog.failed, got, tt.wantWarning)
			}
			if tt.wantWarning && (len(cf.tagPatches) != 1 || !strings.Contains(prog.warnings[0], "PrincipalNotFound")) {
				t.Errorf("tag patches %+v, warnings %v: want self-deallocate disabled, naming PrincipalNotFound", cf.tagPatches, prog.warnings)
			}
			want := "/subscriptions/" + fakeSubscription + "/providers/Microsoft.Authorization/roleDefinitions/" + fakeRoleGUID
			for _, id := range roleIDs {
				if id != want {
					t.Errorf("assignment names role %q, want the directory's role %q", id, want)
				}
			}
		})
	}
}

// A cancelled wait between tries ends the retries at once.
func TestAssignRetryStopsWithTheContext(t *testing.T) {
	cf := newCreateFakes("", "", http.StatusCreated)
	var tries atomic.Int32
	ctx, cancel := context.WithCancel(t.Context())
	cf.f.authz.RoleAssignmentsServer.Create = func(context.Context, string, string, armauthorization.RoleAssignmentCreateParameters, *armauthorization.RoleAssignmentsClientCreateOptions) (resp azfake.Responder[armauthorization.RoleAssignmentsClientCreateResponse], errResp azfake.ErrorResponder) {
		tries.Add(1)
		cancel()
		errResp.SetResponseError(http.StatusBadRequest, "PrincipalNotFound")
		return
	}
	c := newFakeClient(t, cf.f)
	c.assignPauses = []time.Duration{time.Hour, time.Hour}
	vm := armcompute.VirtualMachine{ID: to.Ptr("/subscriptions/s/resourceGroups/mngr/providers/Microsoft.Compute/virtualMachines/v"), Name: to.Ptr("v"),
		Identity: &armcompute.VirtualMachineIdentity{PrincipalID: to.Ptr("11111111-2222-3333-4444-555555555555")}}
	start := time.Now()
	c.assignSelfDeallocate(ctx, vm)
	if tries.Load() != 1 || time.Since(start) > 10*time.Second {
		t.Errorf("%d tries in %s, want 1 and no hour-long wait", tries.Load(), time.Since(start))
	}
}

// An identity with rights on the resource group only is refused the
// subscription-wide status list: the list falls back to one instance view
// per VM, gets the same states, and does not try the wide list again.
func TestListInstancesFallsBackToInstanceViews(t *testing.T) {
	const n, deallocated = 12, 5
	f := listFakes(n, deallocated)
	var listAll, views atomic.Int32
	f.compute.VirtualMachinesServer.NewListAllPager = func(*armcompute.VirtualMachinesClientListAllOptions) (resp azfake.PagerResponder[armcompute.VirtualMachinesClientListAllResponse]) {
		listAll.Add(1)
		resp.AddResponseError(http.StatusForbidden, "AuthorizationFailed")
		return
	}
	var inFlight, maxInFlight atomic.Int32
	f.compute.VirtualMachinesServer.InstanceView = func(_ context.Context, _, name string, _ *armcompute.VirtualMachinesClientInstanceViewOptions) (resp azfake.Responder[armcompute.VirtualMachinesClientInstanceViewResponse], errResp azfake.ErrorResponder) {
		views.Add(1)
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if cur <= m || maxInFlight.CompareAndSwap(m, cur) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond) // let the workers overlap
		var i int
		if _, err := fmt.Sscanf(name, "vm%d", &i); err != nil {
			errResp.SetResponseError(http.StatusNotFound, "NotFound")
			return
		}
		code := "PowerState/running"
		if i < deallocated {
			code = "PowerState/deallocated"
		}
		resp.SetResponse(http.StatusOK, armcompute.VirtualMachinesClientInstanceViewResponse{VirtualMachineInstanceView: armcompute.VirtualMachineInstanceView{
			Statuses: []*armcompute.InstanceViewStatus{{Code: to.Ptr("ProvisioningState/succeeded")}, {Code: to.Ptr(code)}}}}, nil)
		return
	}
	c := newFakeClient(t, f)
	for round := range 2 {
		got, err := c.ListInstances(t.Context())
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		states := map[vps.InstanceStatus]int{}
		for _, in := range got {
			states[in.Status]++
		}
		if d := cmp.Diff(map[vps.InstanceStatus]int{vps.StatusStopped: deallocated, vps.StatusActive: n - deallocated}, states); d != "" {
			t.Errorf("round %d: states (-want +got)\n%s", round, d)
		}
	}
	if listAll.Load() != 1 || views.Load() != 2*n {
		t.Errorf("%d wide lists and %d instance views for 2 lists of %d VMs, want 1 and %d", listAll.Load(), views.Load(), n, 2*n)
	}
	if m := maxInFlight.Load(); m > instanceViewWorkers {
		t.Errorf("%d instance views at once, want at most %d", m, instanceViewWorkers)
	}
}
