package azure

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/google/go-cmp/cmp"
)

// Prepare makes the shared identity, assigns it the self-deallocate role on
// the resource group (and nothing else), and creates the operator role with
// exactly OperatorActions, assignable in the group; cleanup removes the
// assignment and the identity and takes the group out of both roles.
func TestPrepareMakesTheIdentityAndTheOperatorRole(t *testing.T) {
	x := newInfraFakes(http.StatusCreated)
	c := newFakeClient(t, x.f)
	if _, err := c.Prepare(t.Context(), PrepareOptions{}); err != nil {
		t.Fatal(err)
	}
	rg := "subscriptions/" + fakeSubscription + "/resourceGroups/mngr" // the fake drops the leading slash
	if len(x.assignments) != 1 {
		t.Fatalf("assignments %v, want the identity's one", x.assignments)
	}
	for key, a := range x.assignments {
		if key != rg+"/"+identityRoleAssignmentName("/"+rg, *x.identity.Properties.PrincipalID) ||
			*a.Properties.PrincipalID != *x.identity.Properties.PrincipalID || !strings.HasSuffix(*a.Properties.RoleDefinitionID, "/"+*x.role.Name) {
			t.Errorf("assignment %s %+v: want the self-deallocate role for the identity at the group", key, *a.Properties)
		}
	}
	if *x.identity.Tags[tagManagedBy] != tagManagedByMngr || *x.identity.Location != c.cfg.DefaultRegion {
		t.Errorf("identity tags %v location %v", x.identity.Tags, x.identity.Location)
	}
	if !operatorRole.sameActions(x.operator) || !cmp.Equal([]string{"/" + rg}, roleScopes(x.operator)) {
		t.Errorf("operator role %+v scopes %v, want OperatorActions assignable at the group", x.operator.Properties.Permissions[0].Actions, roleScopes(x.operator))
	}
	for _, a := range OperatorActions {
		if strings.HasPrefix(a, "Microsoft.Authorization/") {
			t.Errorf("the operator role grants %s", a)
		}
	}

	x.rgTags = managedTags("azure")
	if _, err := c.Cleanup(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(x.assignments) != 0 || x.exists["identity"] || x.exists["operator"] || x.exists["role"] {
		t.Errorf("after cleanup: assignments %v, identity %v, operator role %v, self-deallocate role %v",
			x.assignments, x.exists["identity"], x.exists["operator"], x.exists["role"])
	}
}

// An operator role an older mngr made with other actions is rewritten with
// today's list (same id, same scopes).
func TestPrepareUpdatesAnOlderOperatorRole(t *testing.T) {
	x := newInfraFakes(http.StatusCreated)
	rg := "/subscriptions/" + fakeSubscription + "/resourceGroups/mngr"
	x.exists["operator"] = true
	x.operator = armauthorization.RoleDefinition{ID: to.Ptr("/subscriptions/" + fakeSubscription + "/providers/Microsoft.Authorization/roleDefinitions/0be20000-0000-4000-8000-000000000001"),
		Name: to.Ptr("0be20000-0000-4000-8000-000000000001"),
		Properties: &armauthorization.RoleDefinitionProperties{RoleName: to.Ptr(operatorRoleName), AssignableScopes: []*string{to.Ptr(rg)},
			Permissions: []*armauthorization.Permission{{Actions: to.SliceOfPtrs(OperatorActions[:3]...)}}}}
	c := newFakeClient(t, x.f)
	res, err := c.Prepare(t.Context(), PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"PUT " + strings.TrimPrefix(rg, "/")}, x.operatorWrites); d != "" {
		t.Errorf("operator role writes (-want +got)\n%s", d)
	}
	if *x.operator.Name != "0be20000-0000-4000-8000-000000000001" || !operatorRole.sameActions(x.operator) {
		t.Errorf("operator role %s with actions %v", *x.operator.Name, x.operator.Properties.Permissions[0].Actions)
	}
	i := slices.IndexFunc(res.Resources, func(r Resource) bool { return r.Name == operatorRoleName })
	if i < 0 || !res.Resources[i].Updated || res.Resources[i].Created {
		t.Errorf("resources %+v: want the operator role reported updated", res.Resources)
	}
}

// --print-role renders the role as `az role definition create` reads it,
// assignable in the resource group, without an ARM call.
func TestOperatorRoleJSON(t *testing.T) {
	f := &fakeARM{}
	c := newFakeClient(t, f)
	b, err := c.OperatorRoleJSON()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Name             string
		IsCustom         bool
		Actions          []string
		NotActions       []string
		AssignableScopes []string
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v:\n%s", err, b)
	}
	if got.Name != operatorRoleName || !got.IsCustom || !cmp.Equal(OperatorActions, got.Actions) || len(got.NotActions) != 0 ||
		!cmp.Equal([]string{"/subscriptions/" + fakeSubscription + "/resourceGroups/mngr"}, got.AssignableScopes) {
		t.Errorf("role %+v", got)
	}
	if f.callCount() != 0 {
		t.Errorf("rendering the role made %d ARM calls", f.callCount())
	}
}

// docs/azure.md lists exactly OperatorActions, in order, in its operator
// role table.
func TestOperatorActionsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../../docs/azure.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "<!-- operator-actions:start -->")
	end := strings.Index(doc, "<!-- operator-actions:end -->")
	if start < 0 || end < start {
		t.Fatal("docs/azure.md has no operator-actions table markers")
	}
	var listed []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllStringSubmatch(doc[start:end], -1) {
		listed = append(listed, m[1])
	}
	if d := cmp.Diff(OperatorActions, listed); d != "" {
		t.Errorf("docs/azure.md operator actions (-code +doc)\n%s", d)
	}
}
