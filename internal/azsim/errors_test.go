package azsim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v4"
)

// admin calls the admin API and decodes the JSON answer into out (when non-nil).
func (s *sim) admin(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, s.ep.Admin+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.ep.ClientSecret)
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("admin %s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("admin %s %s: decode %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

// raw makes one ARM call with an explicit Authorization header.
func (s *sim) raw(t *testing.T, method, path, authz, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, s.ep.ARM+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, resp.Header, m
}

func (s *sim) token(t *testing.T) string {
	t.Helper()
	tok, err := s.cred.GetToken(context.Background(), policyScope(s.ep.Audience))
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

func bodyCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestAuthErrors(t *testing.T) {
	s := startSim(t, "")
	rgPath := "/subscriptions/" + s.ep.SubscriptionID + "/resourcegroups?api-version=2025-04-01"
	var mi struct {
		Token string `json:"access_token"`
	}
	s.admin(t, http.MethodPost, "/identity/token", `{"principal_id":"11111111-2222-3333-4444-555555555555","resource":"https://storage.azure.com/"}`, &mi)
	tests := []struct {
		name, authz, path string
		status            int
		code              string
	}{
		{"no token", "", rgPath, 401, "AuthenticationFailed"},
		{"garbage", "Bearer abc.def.ghi", rgPath, 401, "InvalidAuthenticationToken"},
		{"wrong audience", "Bearer " + mi.Token, rgPath, 401, "InvalidAuthenticationTokenAudience"},
		{"ok", "Bearer " + s.token(t), rgPath, 200, ""},
		{"bad api-version", "Bearer " + s.token(t), "/subscriptions/" + s.ep.SubscriptionID + "/resourcegroups?api-version=2001-01-01", 400, "NoRegisteredProviderFound"},
		{"no api-version", "Bearer " + s.token(t), "/subscriptions/" + s.ep.SubscriptionID + "/resourcegroups", 400, "MissingApiVersionParameter"},
		{"other subscription", "Bearer " + s.token(t), "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups?api-version=2025-04-01", 404, "SubscriptionNotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, h, m := s.raw(t, http.MethodGet, tc.path, tc.authz, "")
			if st != tc.status || bodyCode(m) != tc.code {
				t.Fatalf("got %d %q, want %d %q (%v)", st, bodyCode(m), tc.status, tc.code, m)
			}
			if tc.code != "" && h.Get("x-ms-error-code") != tc.code {
				t.Errorf("x-ms-error-code = %q", h.Get("x-ms-error-code"))
			}
			if st == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer authorization_uri=") {
				t.Errorf("WWW-Authenticate = %q", h.Get("WWW-Authenticate"))
			}
		})
	}
	// Strict bodies: an unknown member is refused.
	st, _, m := s.raw(t, http.MethodPut, "/subscriptions/"+s.ep.SubscriptionID+"/resourcegroups/rgx?api-version=2025-04-01", "Bearer "+s.token(t), `{"location":"westus","colour":"blue"}`)
	if st != 400 || bodyCode(m) != "InvalidRequestContent" {
		t.Errorf("unknown member: %d %v", st, m)
	}
}

func TestErrorCodes(t *testing.T) {
	s := startSim(t, "")
	c := newClients(t, s)
	ctx := context.Background()
	nicID, _ := c.network(ctx, t, "rg1", "e1")
	longTag := map[string]*string{strings.Repeat("k", 513): to.Ptr("v")}
	many := map[string]*string{}
	for i := range 51 {
		many["t"+strings.Repeat("x", i)] = to.Ptr("v")
	}
	badName := vmParams(nicID, "Standard_D2s_v5")
	badName.Properties.OSProfile.ComputerName = to.Ptr("12345")
	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"rg not found", func() error { _, err := c.rg.Get(ctx, "nope", nil); return err }, "ResourceGroupNotFound"},
		{"resource not found", func() error { _, err := c.nsg.Get(ctx, "rg1", "nope", nil); return err }, "ResourceNotFound"},
		{"resource in missing rg", func() error { _, err := c.vm.Get(ctx, "nope", "vm", nil); return err }, "ResourceGroupNotFound"},
		{"tag name too long", func() error {
			_, err := c.rg.CreateOrUpdate(ctx, "rg2", armresources.ResourceGroup{Location: to.Ptr("westus"), Tags: longTag}, nil)
			return err
		}, "InvalidTagNameLength"},
		{"too many tags", func() error {
			_, err := c.rg.CreateOrUpdate(ctx, "rg2", armresources.ResourceGroup{Location: to.Ptr("westus"), Tags: many}, nil)
			return err
		}, "InvalidTag"},
		{"tag value too long", func() error {
			_, err := c.rg.CreateOrUpdate(ctx, "rg2", armresources.ResourceGroup{Location: to.Ptr("westus"), Tags: map[string]*string{"k": to.Ptr(strings.Repeat("v", 257))}}, nil)
			return err
		}, "InvalidTagValueLength"},
		{"nsg priority", func() error {
			_, err := c.nsg.BeginCreateOrUpdate(ctx, "rg1", "bad", armnetwork.SecurityGroup{Location: to.Ptr("westus"), Properties: &armnetwork.SecurityGroupPropertiesFormat{
				SecurityRules: []*armnetwork.SecurityRule{{Name: to.Ptr("r"), Properties: &armnetwork.SecurityRulePropertiesFormat{Priority: to.Ptr[int32](99),
					Protocol: to.Ptr(armnetwork.SecurityRuleProtocolTCP), Access: to.Ptr(armnetwork.SecurityRuleAccessAllow), Direction: to.Ptr(armnetwork.SecurityRuleDirectionInbound)}}}}}, nil)
			return err
		}, "SecurityRuleInvalidPriority"},
		{"computer name", func() error { _, err := c.vm.BeginCreateOrUpdate(ctx, "rg1", "vmx", badName, nil); return err }, "InvalidParameter"},
		{"vm name", func() error {
			_, err := c.vm.BeginCreateOrUpdate(ctx, "rg1", "bad_name-", vmParams(nicID, "Standard_D2s_v5"), nil)
			return err
		}, "InvalidParameter"},
		{"unknown size", func() error {
			_, err := c.vm.BeginCreateOrUpdate(ctx, "rg1", "vmx", vmParams(nicID, "Standard_Nope"), nil)
			return err
		}, "InvalidParameter"},
		{"restricted sku", func() error {
			_, err := c.vm.BeginCreateOrUpdate(ctx, "rg1", "vmx", vmParams(nicID, "Standard_NC6s_v3"), nil)
			return err
		}, "SkuNotAvailable"},
		{"quota", func() error {
			_, err := c.vm.BeginCreateOrUpdate(ctx, "rg1", "vmq", vmParams(nicID, "Standard_M128s"), nil)
			return err
		}, "SkuNotAvailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errCode(tc.call()); got != tc.code {
				t.Errorf("code = %q, want %q", got, tc.code)
			}
		})
	}
}

func TestQuotaAndNICReservation(t *testing.T) {
	s := startSim(t, "")
	c := newClients(t, s)
	ctx := context.Background()
	nicID, _ := c.network(ctx, t, "rg1", "q1")
	// 40 DSv5 vCPUs: a D32 fits, a second D16 does not.
	nic2, _ := c.network(ctx, t, "rg1", "q2")
	p, err := c.vm.BeginCreateOrUpdate(ctx, "rg1", "big", vmParams(nic2, "Standard_D32s_v5"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	_, err = c.vm.BeginCreateOrUpdate(ctx, "rg1", "over", vmParams(nicID, "Standard_D16s_v5"), nil)
	var re *azcore.ResponseError
	if errCode(err) != "OperationNotAllowed" || !strings.Contains(err.Error(), "exceeding approved standardDSv5Family Cores quota") {
		t.Fatalf("over quota: %v", err)
	}
	_ = re
	// The failed create reserved the NIC for "over": another VM may not use it…
	_, err = c.vm.BeginCreateOrUpdate(ctx, "rg1", "other", vmParams(nicID, "Standard_B1s"), nil)
	if errCode(err) != "NicReservedForAnotherVm" {
		t.Fatalf("reserved nic: %v, want NicReservedForAnotherVm", err)
	}
	// …until 180 s pass.
	s.admin(t, http.MethodPost, "/clock", `{"advance_seconds":181}`, nil)
	p, err = c.vm.BeginCreateOrUpdate(ctx, "rg1", "other", vmParams(nicID, "Standard_B1s"), nil)
	if err != nil {
		t.Fatalf("after reservation: %v", err)
	}
	if _, err := p.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	// An injected SkuNotAvailable on a VM PUT reserves the NIC too.
	nic3, _ := c.network(ctx, t, "rg1", "q3")
	if st := s.admin(t, http.MethodPost, "/faults", `{"method":"PUT","path":"/virtualMachines/flaky$","count":1,"status":409,"code":"SkuNotAvailable","message":"The requested VM size is currently not available."}`, nil); st != 201 {
		t.Fatalf("add fault: %d", st)
	}
	_, err = c.vm.BeginCreateOrUpdate(ctx, "rg1", "flaky", vmParams(nic3, "Standard_B1s"), nil)
	if errCode(err) != "SkuNotAvailable" {
		t.Fatalf("fault: %v", err)
	}
	_, err = c.vm.BeginCreateOrUpdate(ctx, "rg1", "thief", vmParams(nic3, "Standard_B1s"), nil)
	if errCode(err) != "NicReservedForAnotherVm" {
		t.Fatalf("after fault: %v, want NicReservedForAnotherVm", err)
	}
	// 429 storm with Retry-After.
	s.admin(t, http.MethodPost, "/faults", `{"method":"GET","path":"/networkSecurityGroups/q1-nsg$","status":429,"retry_after":1}`, nil)
	code, h, m := s.raw(t, http.MethodGet, "/subscriptions/"+s.ep.SubscriptionID+"/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/q1-nsg?api-version=2025-05-01", "Bearer "+s.token(t), "")
	if code != 429 || bodyCode(m) != "TooManyRequests" || h.Get("Retry-After") != "1" {
		t.Errorf("storm: %d %v %q", code, m, h.Get("Retry-After"))
	}
	if st := s.admin(t, http.MethodDelete, "/faults", "", nil); st != 204 {
		t.Errorf("clear faults: %d", st)
	}
	var state struct {
		Resources map[string]int `json:"resources"`
		VMs       []struct {
			PowerState string `json:"power_state"`
			Billing    bool   `json:"billing"`
		} `json:"vms"`
		BilledSeconds float64 `json:"billed_seconds"`
	}
	s.admin(t, http.MethodGet, "/state", "", &state)
	if state.Resources["Microsoft.Compute/virtualMachines"] != 2 || len(state.VMs) != 2 || !state.VMs[0].Billing || state.BilledSeconds < 180 {
		t.Errorf("state = %+v", state)
	}
}

func TestRolesAndManagedIdentity(t *testing.T) {
	s := startSim(t, "")
	c := newClients(t, s)
	ctx := context.Background()
	if _, err := c.rg.CreateOrUpdate(ctx, "rg1", armresources.ResourceGroup{Location: to.Ptr("westus")}, nil); err != nil {
		t.Fatal(err)
	}
	sub := "/subscriptions/" + s.ep.SubscriptionID
	rd, err := armauthorization.NewRoleDefinitionsClient(s.cred, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	ra, err := armauthorization.NewRoleAssignmentsClient(s.ep.SubscriptionID, s.cred, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	defID := "0b7a4cf5-1111-4e2a-9a55-3c1a4b1f0001"
	def, err := rd.CreateOrUpdate(ctx, sub, defID, armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
		RoleName: to.Ptr("mngr host self-stop"), RoleType: to.Ptr("CustomRole"),
		Permissions:      []*armauthorization.Permission{{Actions: []*string{to.Ptr("Microsoft.Compute/virtualMachines/read"), to.Ptr("Microsoft.Compute/virtualMachines/deallocate/action")}}},
		AssignableScopes: []*string{to.Ptr(sub)}}}, nil)
	if err != nil {
		t.Fatalf("create role: %v", err)
	}
	principal := "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	var mi struct {
		Token string `json:"access_token"`
	}
	s.admin(t, http.MethodPost, "/identity/token", `{"principal_id":"`+principal+`"}`, &mi)
	rgPath := sub + "/resourceGroups/rg1?api-version=2025-04-01"
	if st, _, m := s.raw(t, http.MethodGet, rgPath, "Bearer "+mi.Token, ""); st != 403 || bodyCode(m) != "AuthorizationFailed" {
		t.Fatalf("MI without role: %d %v", st, m)
	}
	params := armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{PrincipalID: to.Ptr(principal),
		RoleDefinitionID: to.Ptr(sub + "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}
	if _, err := ra.Create(ctx, sub+"/resourceGroups/rg1", "6f1e0000-0000-4000-8000-000000000001", params, nil); err != nil {
		t.Fatalf("assign reader: %v", err)
	}
	if _, err := ra.Create(ctx, sub+"/resourceGroups/rg1", "6f1e0000-0000-4000-8000-000000000002", params, nil); errCode(err) != "RoleAssignmentExists" {
		t.Fatalf("duplicate assignment: %v, want RoleAssignmentExists", err)
	}
	if st, _, m := s.raw(t, http.MethodGet, rgPath, "Bearer "+mi.Token, ""); st != 200 {
		t.Fatalf("MI with reader: %d %v", st, m)
	}
	if st, _, m := s.raw(t, http.MethodDelete, rgPath, "Bearer "+mi.Token, ""); st != 403 || bodyCode(m) != "AuthorizationFailed" {
		t.Fatalf("MI reader delete: %d %v", st, m)
	}
	if *def.Properties.RoleType != "CustomRole" {
		t.Errorf("role type = %q", *def.Properties.RoleType)
	}
	// Providers: register shows Registering, then Registered.
	pc, err := armresources.NewProvidersClient(s.ep.SubscriptionID, s.cred, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pc.Get(ctx, "Microsoft.Compute", nil)
	if err != nil || *p.RegistrationState != "Registered" {
		t.Fatalf("provider: %v %v", err, p.RegistrationState)
	}
	// SKUs and usages.
	cf, _ := armcompute.NewClientFactory(s.ep.SubscriptionID, s.cred, s.opts)
	skus := cf.NewResourceSKUsClient().NewListPager(nil)
	restricted := 0
	for skus.More() {
		page, err := skus.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page.Value {
			if len(k.Restrictions) > 0 {
				restricted++
			}
		}
	}
	if restricted != 2 {
		t.Errorf("restricted skus = %d, want 2", restricted)
	}
	up := cf.NewUsageClient().NewListPager("westus", nil)
	seen := false
	for up.More() {
		page, err := up.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page.Value {
			if *u.Name.Value == "standardDSv5Family" && *u.Limit == 40 {
				seen = true
			}
		}
	}
	if !seen {
		t.Error("no standardDSv5Family usage")
	}
}
