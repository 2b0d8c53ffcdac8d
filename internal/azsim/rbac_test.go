package azsim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v4"
	"github.com/google/go-cmp/cmp"
)

const contributorRole = "b24988ac-6180-42a0-ab88-20f7382dd24c"

// addSubscription asks the admin API for a further subscription of the tenant.
func (s *sim) addSubscription(t *testing.T) string {
	t.Helper()
	var out struct {
		ID string `json:"subscription_id"`
	}
	if st := s.admin(t, http.MethodPost, "/subscriptions", "", &out); st != http.StatusCreated || out.ID == "" {
		t.Fatalf("admin POST /subscriptions: %d %+v", st, out)
	}
	return out.ID
}

// addPrincipal asks the admin API for a further service principal and
// returns a credential that signs in as it.
func (s *sim) addPrincipal(t *testing.T) (azcore.TokenCredential, string) {
	t.Helper()
	var sp struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		ObjectID     string `json:"object_id"`
	}
	if st := s.admin(t, http.MethodPost, "/principals", "", &sp); st != http.StatusCreated || sp.ObjectID == "" {
		t.Fatalf("admin POST /principals: %d %+v", st, sp)
	}
	cred, err := azidentity.NewClientSecretCredential(s.ep.TenantID, sp.ClientID, sp.ClientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: s.opts.ClientOptions, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	return cred, sp.ObjectID
}

func roleNames(t *testing.T, rd *armauthorization.RoleDefinitionsClient, scope, filter string) []string {
	t.Helper()
	var out []string
	p := rd.NewListPager(scope, &armauthorization.RoleDefinitionsClientListOptions{Filter: to.Ptr(filter)})
	for p.More() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list role definitions at %q (%s): %v", scope, filter, err)
		}
		for _, r := range page.Value {
			out = append(out, *r.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Custom role names are unique in the directory, not per subscription: a
// second subscription of the tenant finds the role at the tenant root and
// extends it, written at one of its assignable scopes; assignments stay
// within the assignable scopes.
func TestCustomRoleAcrossSubscriptions(t *testing.T) {
	s := startSim(t, "")
	ctx := context.Background()
	sub1, sub2 := s.ep.SubscriptionID, s.addSubscription(t)
	for _, g := range []struct{ sub, name string }{{sub1, "rg1"}, {sub2, "rg2"}, {sub2, "rg3"}} {
		rg, err := armresources.NewResourceGroupsClient(g.sub, s.cred, s.opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rg.CreateOrUpdate(ctx, g.name, armresources.ResourceGroup{Location: to.Ptr("westus")}, nil); err != nil {
			t.Fatalf("create %s in %s: %v", g.name, g.sub, err)
		}
	}
	rg1, rg2, rg3 := "/subscriptions/"+sub1+"/resourceGroups/rg1", "/subscriptions/"+sub2+"/resourceGroups/rg2", "/subscriptions/"+sub2+"/resourceGroups/rg3"
	rd, err := armauthorization.NewRoleDefinitionsClient(s.cred, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	spec := func(scopes ...string) armauthorization.RoleDefinition {
		return armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{RoleName: to.Ptr("self-stop"), RoleType: to.Ptr("CustomRole"),
			Permissions:      []*armauthorization.Permission{{Actions: []*string{to.Ptr("Microsoft.Compute/virtualMachines/deallocate/action")}}},
			AssignableScopes: to.SliceOfPtrs(scopes...)}}
	}
	roleID := "0b7a4cf5-2222-4e2a-9a55-3c1a4b1f0001"
	created, err := rd.CreateOrUpdate(ctx, rg1, roleID, spec(rg1), nil)
	if err != nil {
		t.Fatalf("create role at rg1: %v", err)
	}
	if want := "/subscriptions/" + sub1 + "/providers/Microsoft.Authorization/roleDefinitions/" + roleID; *created.ID != want {
		t.Errorf("role id %q, want %q (named by its subscription, not its resource group)", *created.ID, want)
	}

	// The same name under another GUID, in the other subscription: 409.
	if _, err := rd.CreateOrUpdate(ctx, rg2, "0b7a4cf5-2222-4e2a-9a55-3c1a4b1f0002", spec(rg2), nil); errCode(err) != "RoleDefinitionWithSameNameExists" {
		t.Fatalf("same name in the second subscription: %v, want RoleDefinitionWithSameNameExists", err)
	}

	byName := "roleName eq 'self-stop'"
	lists := []struct {
		scope, filter string
		want          []string
	}{
		{"", byName, []string{roleID}}, // tenant root: every custom role
		{"/subscriptions/" + sub2, byName, nil},
		{"/subscriptions/" + sub1, byName, nil}, // assignable below the subscription only
		{"/subscriptions/" + sub1, byName + " and atScopeAndBelow()", []string{roleID}},
		{rg1, byName, []string{roleID}},
		{"", "type eq 'CustomRole'", []string{roleID}},
	}
	for _, l := range lists {
		if d := cmp.Diff(l.want, roleNames(t, rd, l.scope, l.filter)); d != "" {
			t.Errorf("list at %q with %q (-want +got)\n%s", l.scope, l.filter, d)
		}
	}

	// A write must happen at one of the role's assignable scopes.
	if _, err := rd.CreateOrUpdate(ctx, "/subscriptions/"+sub2, roleID, spec(rg1, rg2), nil); errCode(err) != "InvalidRoleDefinitionScope" {
		t.Fatalf("write at a scope outside the assignable scopes: %v, want InvalidRoleDefinitionScope", err)
	}
	if _, err := rd.CreateOrUpdate(ctx, rg1, roleID, spec(rg1, rg2), nil); err != nil {
		t.Fatalf("add rg2 at the first assignable scope: %v", err)
	}

	ra, err := armauthorization.NewRoleAssignmentsClient(sub2, s.cred, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	assign := func(scope, name string) error {
		_, err := ra.Create(ctx, scope, name, armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
			PrincipalID: to.Ptr("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
			RoleDefinitionID: to.Ptr("/subscriptions/" + sub2 + "/providers/Microsoft.Authorization/roleDefinitions/" + roleID)}}, nil)
		return err
	}
	if err := assign(rg2, "6f1e0000-0000-4000-8000-000000000011"); err != nil {
		t.Fatalf("assign within the assignable scopes: %v", err)
	}
	if err := assign(rg3, "6f1e0000-0000-4000-8000-000000000012"); errCode(err) != "RoleDefinitionDoesNotExist" {
		t.Fatalf("assign outside the assignable scopes: %v, want RoleDefinitionDoesNotExist", err)
	}
	// rg2 still holds an assignment of the role: it cannot leave the role.
	if _, err := rd.CreateOrUpdate(ctx, rg1, roleID, spec(rg1), nil); errCode(err) != "RoleScopeBeingRemovedContainsAssignments" {
		t.Fatalf("drop a scope with assignments: %v, want RoleScopeBeingRemovedContainsAssignments", err)
	}
	// Deleting rg2 takes its assignments along; then the scope may go.
	rgc, _ := armresources.NewResourceGroupsClient(sub2, s.cred, s.opts)
	p, err := rgc.BeginDelete(ctx, "rg2", nil)
	if err == nil {
		_, err = p.PollUntilDone(ctx, nil)
	}
	if err != nil {
		t.Fatalf("delete rg2: %v", err)
	}
	if _, err := rd.CreateOrUpdate(ctx, rg1, roleID, spec(rg1), nil); err != nil {
		t.Fatalf("drop rg2 once it is gone: %v", err)
	}
	if _, err := rd.Get(ctx, "/subscriptions/"+sub1, roleID, nil); err != nil {
		t.Fatalf("the role outlives the groups it was written at: %v", err)
	}
}

// A service principal other than the owner gets only what its role
// assignments grant: Contributor on one resource group reads and writes
// there, and is refused the subscription-wide VM list (listAll), other
// groups and role writes. Principals and subscriptions survive a restart.
func TestServicePrincipalRBAC(t *testing.T) {
	dir := t.TempDir()
	s := startSim(t, dir)
	ctx := context.Background()
	sub := s.ep.SubscriptionID
	rgc, err := armresources.NewResourceGroupsClient(sub, s.cred, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mine", "theirs"} {
		if _, err := rgc.CreateOrUpdate(ctx, name, armresources.ResourceGroup{Location: to.Ptr("westus")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	extraSub := s.addSubscription(t)
	_, objectID := s.addPrincipal(t)
	ra, err := armauthorization.NewRoleAssignmentsClient(sub, s.cred, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	mine := "/subscriptions/" + sub + "/resourceGroups/mine"
	if _, err := ra.Create(ctx, mine, "6f1e0000-0000-4000-8000-000000000021", armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		PrincipalID: to.Ptr(objectID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
		RoleDefinitionID: to.Ptr("/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/" + contributorRole)}}, nil); err != nil {
		t.Fatalf("assign Contributor on %s: %v", mine, err)
	}
	s.stop()
	s = startSim(t, dir) // the principal, its assignment and the extra subscription persist
	opts := &arm.ClientOptions{ClientOptions: s.opts.ClientOptions, DisableRPRegistration: true}
	// A fresh credential from identity.json: the restarted azsim still
	// knows the principal.
	clientID, secret := principalOf(t, s, objectID)
	cred, err := azidentity.NewClientSecretCredential(s.ep.TenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: s.opts.ClientOptions, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	vms, err := armcompute.NewVirtualMachinesClient(sub, cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := armresources.NewResourceGroupsClient(sub, cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := groups.Get(ctx, "mine", nil); err != nil {
		t.Errorf("Contributor reads its group: %v", err)
	}
	if _, err := vms.NewListPager("mine", nil).NextPage(ctx); err != nil {
		t.Errorf("Contributor lists the VMs of its group: %v", err)
	}
	if _, err := vms.NewListAllPager(&armcompute.VirtualMachinesClientListAllOptions{StatusOnly: to.Ptr("true")}).NextPage(ctx); errCode(err) != "AuthorizationFailed" {
		t.Errorf("subscription-wide VM list: %v, want AuthorizationFailed", err)
	}
	if _, err := groups.Get(ctx, "theirs", nil); errCode(err) != "AuthorizationFailed" {
		t.Errorf("another group: %v, want AuthorizationFailed", err)
	}
	rd, err := armauthorization.NewRoleDefinitionsClient(cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rd.CreateOrUpdate(ctx, mine, "0b7a4cf5-3333-4e2a-9a55-3c1a4b1f0001", armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
		RoleName: to.Ptr("nope"), Permissions: []*armauthorization.Permission{{Actions: []*string{to.Ptr("*/read")}}}, AssignableScopes: []*string{to.Ptr(mine)}}}, nil); errCode(err) != "AuthorizationFailed" {
		t.Errorf("Contributor writes a role: %v, want AuthorizationFailed (Contributor excludes Microsoft.Authorization/*/Write)", err)
	}
	// The subscription list shows only where the principal has a role;
	// the owner sees both.
	for _, c := range []struct {
		cred azcore.TokenCredential
		want []string
	}{{cred, []string{sub}}, {s.cred, sortedStrings(sub, extraSub)}} {
		tok, err := c.cred.GetToken(ctx, policyScope(s.ep.Audience))
		if err != nil {
			t.Fatal(err)
		}
		st, _, m := s.raw(t, http.MethodGet, "/subscriptions?api-version=2022-12-01", "Bearer "+tok.Token, "")
		var got []string
		vals, _ := m["value"].([]any)
		for _, v := range vals {
			got = append(got, v.(map[string]any)["subscriptionId"].(string))
		}
		sort.Strings(got)
		if d := cmp.Diff(c.want, got); st != http.StatusOK || d != "" {
			t.Errorf("subscriptions: %d (-want +got)\n%s", st, d)
		}
	}
}

func sortedStrings(v ...string) []string { sort.Strings(v); return v }

// principalOf reads a principal's credentials back from azsim's identity file.
func principalOf(t *testing.T, s *sim, objectID string) (clientID, secret string) {
	t.Helper()
	var id struct {
		Principals []struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
			ObjectID     string `json:"object_id"`
		} `json:"principals"`
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &id); err != nil {
		t.Fatal(err)
	}
	for _, p := range id.Principals {
		if p.ObjectID == objectID {
			return p.ClientID, p.ClientSecret
		}
	}
	t.Fatalf("principal %s not in identity.json", objectID)
	return "", ""
}
