package azure

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/vps"
)

// The shared identity prepare makes may not have reached the directory yet
// when prepare assigns it the self-deallocate role: PrincipalNotFound is
// retried with pauses, and only when it lasts past them does the step fail
// (prepare then warns). The assignment is at the resource group, named the
// same on every prepare, for the directory's role.
func TestIdentityAssignRetriesPrincipalNotFound(t *testing.T) {
	const principal = "22222222-0000-4000-8000-000000000002"
	for _, tt := range []struct {
		name      string
		notFound  int
		wantTries int
		wantErr   bool
	}{
		{"replicated at once", 0, 1, false},
		{"replicated on the third try", 2, 3, false},
		{"never replicated", 100, 4, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeARM{}
			var tries int
			var scopes, names, roleIDs []string
			f.authz.RoleAssignmentsServer.Create = func(_ context.Context, scope, name string, p armauthorization.RoleAssignmentCreateParameters, _ *armauthorization.RoleAssignmentsClientCreateOptions) (resp azfake.Responder[armauthorization.RoleAssignmentsClientCreateResponse], errResp azfake.ErrorResponder) {
				tries++
				scopes, names, roleIDs = append(scopes, scope), append(names, name), append(roleIDs, *p.Properties.RoleDefinitionID)
				if *p.Properties.PrincipalID != principal {
					t.Errorf("assignment for principal %s, want %s", *p.Properties.PrincipalID, principal)
				}
				if tries <= tt.notFound {
					errResp.SetResponseError(http.StatusBadRequest, "PrincipalNotFound")
					return
				}
				resp.SetResponse(http.StatusCreated, armauthorization.RoleAssignmentsClientCreateResponse{}, nil)
				return
			}
			f.authz.RoleAssignmentsServer.Get = assignmentNotFound
			c := newFakeClient(t, f)
			c.assignPauses = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
			r, err := c.assignIdentityRole(t.Context(), principal)
			if (err != nil) != tt.wantErr || (tt.wantErr && !strings.Contains(err.Error(), "PrincipalNotFound")) {
				t.Fatalf("assign: %v, want error %v naming PrincipalNotFound", err, tt.wantErr)
			}
			if tries != tt.wantTries {
				t.Errorf("%d role assignment tries, want %d", tries, tt.wantTries)
			}
			if !tt.wantErr && !r.Created {
				t.Errorf("resource %+v, want created", r)
			}
			wantRole := "/subscriptions/" + fakeSubscription + "/providers/Microsoft.Authorization/roleDefinitions/" + fakeRoleGUID
			wantName := identityRoleAssignmentName(c.rgScope(), principal)
			for i := range scopes {
				// The fake drops the scope's leading slash.
				if "/"+scopes[i] != c.rgScope() || names[i] != wantName || roleIDs[i] != wantRole {
					t.Errorf("assignment %s at %s for %s, want %s at %s for %s", names[i], scopes[i], roleIDs[i], wantName, c.rgScope(), wantRole)
				}
			}
		})
	}
}

// A cancelled wait between tries ends the retries at once.
func TestIdentityAssignRetryStopsWithTheContext(t *testing.T) {
	f := &fakeARM{}
	var tries atomic.Int32
	ctx, cancel := context.WithCancel(t.Context())
	f.authz.RoleAssignmentsServer.Create = func(context.Context, string, string, armauthorization.RoleAssignmentCreateParameters, *armauthorization.RoleAssignmentsClientCreateOptions) (resp azfake.Responder[armauthorization.RoleAssignmentsClientCreateResponse], errResp azfake.ErrorResponder) {
		tries.Add(1)
		cancel()
		errResp.SetResponseError(http.StatusBadRequest, "PrincipalNotFound")
		return
	}
	f.authz.RoleAssignmentsServer.Get = assignmentNotFound
	c := newFakeClient(t, f)
	c.assignPauses = []time.Duration{time.Hour, time.Hour}
	start := time.Now()
	if _, err := c.assignIdentityRole(ctx, "11111111-2222-3333-4444-555555555555"); err == nil {
		t.Error("assignment succeeded after its context was cancelled")
	}
	if tries.Load() != 1 || time.Since(start) > 10*time.Second {
		t.Errorf("%d tries in %s, want 1 and no hour-long wait", tries.Load(), time.Since(start))
	}
}

// assignmentNotFound serves a directory without the assignment asked for.
func assignmentNotFound(context.Context, string, string, *armauthorization.RoleAssignmentsClientGetOptions) (resp azfake.Responder[armauthorization.RoleAssignmentsClientGetResponse], errResp azfake.ErrorResponder) {
	errResp.SetResponseError(http.StatusNotFound, "RoleAssignmentNotFound")
	return
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
