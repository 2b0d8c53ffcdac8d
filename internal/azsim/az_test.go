package azsim_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/mngr-azure/mngr/internal/testenv"
)

// TestAzureCLI drives the real az CLI (Debian's azure-cli 2.45) against
// azsim. It registers a cloud with the 2020-09-01-hybrid profile: under the
// "latest" profile Debian's az 2.45 cannot even load its network module
// (AttributeError on ApplicationGatewaySkuName), before any request.
func TestAzureCLI(t *testing.T) {
	azBin, err := exec.LookPath("az")
	if err != nil {
		testenv.Missing(t, "az CLI not installed")
	}
	if testing.Short() {
		t.Skip("az CLI test takes about a minute; skipped with -short")
	}
	s := startSim(t, "")
	c := newClients(t, s)
	ctx := context.Background()
	// A VM made through the SDK, for `az vm list -d`.
	nicID, _ := c.network(ctx, t, "sdkrg", "h1")
	p, err := c.vm.BeginCreateOrUpdate(ctx, "sdkrg", "vm1", vmParams(nicID, "Standard_B2s"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	cfg := t.TempDir()
	env := append(os.Environ(), "AZURE_CONFIG_DIR="+cfg, "REQUESTS_CA_BUNDLE="+s.ep.CAFile, "AZURE_CORE_COLLECT_TELEMETRY=0",
		"AZURE_CORE_NO_COLOR=1", "AZURE_CORE_ONLY_SHOW_ERRORS=1")
	az := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, azBin, args...)
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("az %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out)
	}
	azJSON := func(v any, args ...string) {
		t.Helper()
		out := az(append(args, "-o", "json")...)
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("az %s: decode %q: %v", strings.Join(args, " "), out, err)
		}
	}
	az("cloud", "register", "--name", "azsim", "--profile", "2020-09-01-hybrid",
		"--endpoint-resource-manager", s.ep.ARM, "--endpoint-active-directory", s.ep.AuthorityADFS,
		"--endpoint-active-directory-resource-id", s.ep.Audience, "--endpoint-management", s.ep.Audience,
		"--endpoint-active-directory-graph-resource-id", "https://graph.azsim.local/")
	az("cloud", "set", "--name", "azsim")
	var login []struct {
		ID       string `json:"id"`
		TenantID string `json:"tenantId"`
	}
	azJSON(&login, "login", "--service-principal", "-u", s.ep.ClientID, "-p", s.ep.ClientSecret, "--tenant", s.ep.TenantID)
	if len(login) != 1 || login[0].ID != s.ep.SubscriptionID || login[0].TenantID != s.ep.TenantID {
		t.Fatalf("login = %+v", login)
	}
	var rg struct {
		Name       string `json:"name"`
		Location   string `json:"location"`
		Properties struct {
			ProvisioningState string `json:"provisioningState"`
		} `json:"properties"`
	}
	azJSON(&rg, "group", "create", "-n", "azrg", "-l", "westus")
	if rg.Name != "azrg" || rg.Location != "westus" || rg.Properties.ProvisioningState != "Succeeded" {
		t.Errorf("group create = %+v", rg)
	}
	if got := az("group", "list", "--query", "sort([].name)", "-o", "tsv"); got != "azrg\nsdkrg\n" {
		t.Errorf("group list = %q", got)
	}
	if got := az("network", "nsg", "show", "-g", "sdkrg", "-n", "h1-nsg", "--query", "[provisioningState, securityRules[0].destinationPortRange]", "-o", "tsv"); got != "Succeeded\n22\n" {
		t.Errorf("nsg show = %q", got)
	}
	if got := az("network", "vnet", "subnet", "show", "-g", "sdkrg", "--vnet-name", "h1-vnet", "-n", "default", "--query", "[name, addressPrefix]", "-o", "tsv"); got != "default\n10.0.0.0/24\n" {
		t.Errorf("subnet show = %q", got)
	}
	var vms []struct {
		Name       string `json:"name"`
		PowerState string `json:"powerState"`
		PublicIPs  string `json:"publicIps"`
	}
	azJSON(&vms, "vm", "list", "-d")
	if len(vms) != 1 || vms[0].Name != "vm1" || vms[0].PowerState != "VM running" || !strings.HasPrefix(vms[0].PublicIPs, "127.77.") {
		t.Errorf("vm list -d = %+v", vms)
	}
	rgID := "/subscriptions/" + s.ep.SubscriptionID + "/resourceGroups/azrg"
	az("tag", "create", "--resource-id", rgID, "--tags", "a=1", "b=2")
	az("tag", "update", "--resource-id", rgID, "--operation", "merge", "--tags", "c=3")
	az("tag", "update", "--resource-id", rgID, "--operation", "delete", "--tags", "a=1")
	if got := az("tag", "list", "--resource-id", rgID, "--query", "properties.tags", "-o", "json"); strings.Join(strings.Fields(got), "") != `{"b":"2","c":"3"}` {
		t.Errorf("tags = %q", got)
	}
	// A custom role assignable in one group only: a list by name finds it
	// at the tenant root and at that group, not at the subscription (a list
	// shows the roles assignable at its scope or above it).
	rd, err := armauthorization.NewRoleDefinitionsClient(s.cred, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	sdkrg := "/subscriptions/" + s.ep.SubscriptionID + "/resourceGroups/sdkrg"
	if _, err := rd.CreateOrUpdate(ctx, sdkrg, "0b7a4cf5-4444-4e2a-9a55-3c1a4b1f0001", armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
		RoleName: to.Ptr("mngr-self-deallocate"), Permissions: []*armauthorization.Permission{{Actions: []*string{to.Ptr("Microsoft.Compute/virtualMachines/deallocate/action")}}},
		AssignableScopes: []*string{to.Ptr(sdkrg)}}}, nil); err != nil {
		t.Fatal(err)
	}
	// Debian's az 2.45 crashes in `az role definition list` under this
	// profile (AttributeError on the client's config, before any request),
	// so the filtered lists go through `az rest`.
	roles := func(scope string) string {
		t.Helper()
		u := s.ep.ARM + strings.TrimSuffix(scope, "/") + "/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-04-01&$filter=" +
			url.QueryEscape("roleName eq 'mngr-self-deallocate'")
		return az("rest", "--method", "get", "--url", u, "--resource", s.ep.Audience, "--query", "value[].[name, properties.roleName]", "-o", "tsv")
	}
	want := "0b7a4cf5-4444-4e2a-9a55-3c1a4b1f0001\tmngr-self-deallocate\n"
	for _, c := range []struct{ scope, want string }{{"", want}, {sdkrg, want}, {"/subscriptions/" + s.ep.SubscriptionID, ""}} {
		if got := roles(c.scope); got != c.want {
			t.Errorf("role definitions named mngr-self-deallocate at %q = %q, want %q", c.scope, got, c.want)
		}
	}
	az("group", "delete", "-n", "azrg", "--yes")
	if got := az("group", "list", "--query", "[].name", "-o", "tsv"); got != "sdkrg\n" {
		t.Errorf("group list after delete = %q", got)
	}
}
