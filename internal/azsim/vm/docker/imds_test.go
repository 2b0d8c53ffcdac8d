package docker

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/azsim/vm"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestIMDS(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	spec := vm.Spec{ResourceID: testVMID, Name: "vm-one", ComputerName: "box", AdminUser: "azureuser",
		PublicIP: "127.77.0.9", PrincipalID: "pid-1", SSHPublicKeys: []string{"ssh-ed25519 AAAA k"}}
	var issued []string
	h := &imdsHandler{
		spec: func() vm.Spec { return spec },
		issue: func(principalID, resource string) (string, time.Time, error) {
			issued = append(issued, principalID+" "+resource)
			if resource == "https://fail" {
				return "", time.Time{}, errors.New("boom")
			}
			return "tok-" + principalID, now.Add(time.Hour), nil
		},
		now: func() time.Time { return now },
	}
	u1, u2 := "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/one", "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/two"
	userSpec := vm.Spec{ResourceID: testVMID, UserIdentities: []vm.Identity{{ResourceID: u1, ClientID: "cid-u1", PrincipalID: "oid-u1"}, {ResourceID: u2, ClientID: "cid-u2", PrincipalID: "oid-u2"}}}
	oneUserSpec := vm.Spec{ResourceID: testVMID, UserIdentities: userSpec.UserIdentities[:1]}
	tests := []struct {
		name     string
		path     string
		noHeader bool
		spec     *vm.Spec
		status   int
		body     string // exact body for text, or a JSON object compared semantically
	}{
		{name: "token", path: "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F", status: 200,
			body: `{"access_token":"tok-pid-1","client_id":"pid-1","expires_in":"3600","expires_on":"1800003600","ext_expires_in":"3600","not_before":"1800000000","resource":"https://management.azure.com/","token_type":"Bearer"}`},
		{name: "token without the Metadata header", path: "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x", noHeader: true, status: 400,
			body: `{"error":"invalid_request","error_description":"Required metadata header not specified"}`},
		{name: "token without resource", path: "/metadata/identity/oauth2/token?api-version=2018-02-01", status: 400,
			body: `{"error":"invalid_request","error_description":"Required audience parameter not specified"}`},
		{name: "token for a user-assigned identity", path: "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x&msi_res_id=/x", status: 400,
			body: `{"error":"invalid_request","error_description":"Identity not found"}`},
		{name: "token for a VM without identity", path: "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x", spec: &vm.Spec{ResourceID: testVMID}, status: 400,
			body: `{"error":"invalid_request","error_description":"Identity not found"}`},
		{name: "token by client id of a user-assigned identity", path: "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x&client_id=CID-U1", spec: &userSpec, status: 200,
			body: `{"access_token":"tok-oid-u1","client_id":"cid-u1","expires_in":"3600","expires_on":"1800003600","ext_expires_in":"3600","not_before":"1800000000","resource":"x","token_type":"Bearer"}`},
		{name: "token by resource id of a user-assigned identity", path: "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x&msi_res_id=" + u2, spec: &userSpec, status: 200,
			body: `{"access_token":"tok-oid-u2","client_id":"cid-u2","expires_in":"3600","expires_on":"1800003600","ext_expires_in":"3600","not_before":"1800000000","resource":"x","token_type":"Bearer"}`},
		{name: "token without a selector among two user-assigned identities", path: "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x", spec: &userSpec, status: 400,
			body: `{"error":"invalid_request","error_description":"Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request"}`},
		{name: "token without a selector for the only user-assigned identity", path: "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x", spec: &oneUserSpec, status: 200,
			body: `{"access_token":"tok-oid-u1","client_id":"cid-u1","expires_in":"3600","expires_on":"1800003600","ext_expires_in":"3600","not_before":"1800000000","resource":"x","token_type":"Bearer"}`},
		{name: "token for an identity of another VM", path: "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x&client_id=cid-other", spec: &userSpec, status: 400,
			body: `{"error":"invalid_request","error_description":"Identity not found"}`},
		{name: "token issuer failure", path: "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://fail", status: 500,
			body: `{"error":"unknown","error_description":"issue token: boom"}`},
		{name: "no api-version", path: "/metadata/instance", status: 400,
			body: `{"error":"Bad request. api-version was not specified in the request.","newest-versions":["2021-02-01","2021-12-13","2023-07-01"]}`},
		{name: "resource id as text", path: "/metadata/instance/compute/resourceId?api-version=2021-02-01&format=text", status: 200, body: testVMID},
		{name: "public ip as text", path: "/metadata/instance/network/interface/0/ipv4/ipAddress/0/publicIpAddress?api-version=2021-02-01&format=text", status: 200, body: "127.77.0.9"},
		{name: "subscription as json", path: "/metadata/instance/compute/subscriptionId?api-version=2021-02-01", status: 200, body: `"0000-sub"`},
		{name: "text of a non-leaf", path: "/metadata/instance/compute?api-version=2021-02-01&format=text", status: 400,
			body: `{"error":"Bad request. Query parameter format=text is only valid for leaf nodes."}`},
		{name: "unknown path", path: "/metadata/instance/compute/nope?api-version=2021-02-01", status: 404, body: `{"error":"Not found"}`},
		{name: "unknown endpoint", path: "/metadata/scheduledevents?api-version=2020-07-01", status: 404, body: `{"error":"Not found"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hh := *h
			if tt.spec != nil {
				s := *tt.spec
				hh.spec = func() vm.Spec { return s }
			}
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if !tt.noHeader {
				req.Header.Set("Metadata", "true")
			}
			rec := httptest.NewRecorder()
			hh.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
			}
			got := rec.Body.String()
			if strings.HasPrefix(tt.body, "{") || strings.HasPrefix(tt.body, `"`) {
				var want, have any
				if err := json.Unmarshal([]byte(tt.body), &want); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal([]byte(got), &have); err != nil {
					t.Fatalf("body is not JSON: %v: %s", err, got)
				}
				if d := cmp.Diff(want, have); d != "" {
					t.Errorf("body (-want +got)\n%s", d)
				}
				return
			}
			if d := cmp.Diff(tt.body, got); d != "" {
				t.Errorf("body (-want +got)\n%s", d)
			}
		})
	}
	if d := cmp.Diff([]string{"pid-1 https://management.azure.com/", "oid-u1 x", "oid-u2 x", "oid-u1 x", "pid-1 https://fail"}, issued); d != "" {
		t.Errorf("tokens issued (-want +got)\n%s", d)
	}
}

func TestIMDSInstanceDocument(t *testing.T) {
	spec := vm.Spec{ResourceID: testVMID, Name: "vm-one", ComputerName: "box", AdminUser: "azureuser", PublicIP: "127.77.0.9"}
	h := &imdsHandler{spec: func() vm.Spec { return spec }, now: time.Now}
	req := httptest.NewRequest(http.MethodGet, "/metadata/instance?api-version=2021-02-01", nil)
	req.Header.Set("Metadata", "True")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	var doc struct {
		Compute struct {
			Name              string `json:"name"`
			ResourceID        string `json:"resourceId"`
			SubscriptionID    string `json:"subscriptionId"`
			ResourceGroupName string `json:"resourceGroupName"`
			VMID              string `json:"vmId"`
			OSProfile         struct {
				ComputerName string `json:"computerName"`
			} `json:"osProfile"`
		} `json:"compute"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if doc.Compute.Name != "vm-one" || doc.Compute.ResourceID != testVMID || doc.Compute.SubscriptionID != "0000-sub" ||
		doc.Compute.ResourceGroupName != "rg-one" || doc.Compute.VMID != vmIDFor(testVMID) || doc.Compute.OSProfile.ComputerName != "box" {
		t.Errorf("instance document: %+v", doc.Compute)
	}
}
