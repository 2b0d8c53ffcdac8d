package azure

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	authzfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	computefake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	msifake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi/fake"
	networkfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9/fake"
	resourcesfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v4/fake"
)

// fakeARM routes each request to the generated fake of its resource provider.
type fakeARM struct {
	compute   computefake.ServerFactory
	network   networkfake.ServerFactory
	resources resourcesfake.ServerFactory
	authz     authzfake.ServerFactory
	msi       msifake.ServerFactory

	mu    sync.Mutex
	calls []string
	once  sync.Once
	trs   map[string]interface {
		Do(*http.Request) (*http.Response, error)
	}
}

func (f *fakeARM) Do(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.calls = append(f.calls, req.Method+" "+req.URL.Path)
	f.mu.Unlock()
	// One transport per module, built once: LRO state lives in the transport.
	f.once.Do(func() {
		if f.authz.RoleDefinitionsServer.NewListPager == nil {
			f.authz.RoleDefinitionsServer.NewListPager = defaultRoleList
		}
		if f.msi.UserAssignedIdentitiesServer.Get == nil {
			f.msi.UserAssignedIdentitiesServer.Get = defaultIdentity
		}
		if f.compute.GalleryImagesServer.NewListByGalleryPager == nil {
			f.compute.GalleryImagesServer.NewListByGalleryPager = noGallery
		}
		f.trs = map[string]interface {
			Do(*http.Request) (*http.Response, error)
		}{
			"resources": resourcesfake.NewServerFactoryTransport(&f.resources),
			"authz":     authzfake.NewServerFactoryTransport(&f.authz),
			"compute":   computefake.NewServerFactoryTransport(&f.compute),
			"network":   networkfake.NewServerFactoryTransport(&f.network),
			"msi":       msifake.NewServerFactoryTransport(&f.msi),
		}
	})
	// The generated fake cannot parse the tenant root's empty scope
	// (/providers/… with no scope before it); hand it the scope
	// tenantRootMarker instead.
	if strings.HasPrefix(req.URL.Path, "/providers/") {
		req.URL.Path = "/" + tenantRootMarker + req.URL.Path
		req.URL.RawPath = ""
	}
	p := req.URL.Path
	switch {
	case providerRegRE.MatchString(p):
		return f.trs["resources"].Do(req)
	case strings.Contains(p, "/providers/Microsoft.Resources/tags"):
		return f.trs["resources"].Do(req)
	case strings.Contains(p, "/providers/Microsoft.Authorization/"):
		return f.trs["authz"].Do(req)
	case strings.Contains(p, "/providers/Microsoft.Compute/"):
		return f.trs["compute"].Do(req)
	case strings.Contains(p, "/providers/Microsoft.Network/"):
		return f.trs["network"].Do(req)
	case strings.Contains(p, "/providers/Microsoft.ManagedIdentity/"):
		return f.trs["msi"].Do(req)
	}
	return f.trs["resources"].Do(req)
}

func (f *fakeARM) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// newFakeClient builds a Client whose every ARM client talks to f.
func newFakeClient(t *testing.T, f *fakeARM) *Client {
	t.Helper()
	cfg := DefaultConfig()
	cfg.SubscriptionID = fakeSubscription
	c, err := NewClient("azure", cfg, ClientOptions{Credential: &azfake.TokenCredential{}, Transport: f, PollFrequency: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return time.Unix(1_800_000_000, 0) }
	return c
}

// recordingProgress records steps, the steps that ended failed, warnings and notes.
type recordingProgress struct {
	mu       sync.Mutex
	steps    []string
	failed   []string
	warnings []string
	notes    []string
}

func (r *recordingProgress) Note(msg string) {
	r.mu.Lock()
	r.notes = append(r.notes, msg)
	r.mu.Unlock()
}

func (r *recordingProgress) Step(name string) func(error) {
	r.mu.Lock()
	r.steps = append(r.steps, name)
	r.mu.Unlock()
	return func(err error) {
		if err != nil {
			r.mu.Lock()
			r.failed = append(r.failed, name)
			r.mu.Unlock()
		}
	}
}

func (r *recordingProgress) Warn(msg string) {
	r.mu.Lock()
	r.warnings = append(r.warnings, msg)
	r.mu.Unlock()
}

// providerRegRE matches resource provider GET/register paths (served by armresources).
var providerRegRE = regexp.MustCompile(`^/subscriptions/[^/]+/providers/[^/]+(/register)?$`)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// fakeSubscription is the subscription of newFakeClient's Client.
const fakeSubscription = "00000000-0000-0000-0000-000000000001"

// tenantRootMarker stands for the tenant root scope in fake requests.
const tenantRootMarker = "tenant-root"

// fakeRoleGUID is the self-deallocate role's id in the fakes.
const fakeRoleGUID = "7a1e0000-0000-4000-8000-0000000000aa"

// defaultRoleList serves a directory that holds the self-deallocate role.
func defaultRoleList(scope string, _ *armauthorization.RoleDefinitionsClientListOptions) (resp azfake.PagerResponder[armauthorization.RoleDefinitionsClientListResponse]) {
	role := &armauthorization.RoleDefinition{ID: to.Ptr("/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/" + fakeRoleGUID), Name: to.Ptr(fakeRoleGUID),
		Properties: &armauthorization.RoleDefinitionProperties{RoleName: to.Ptr(roleName), AssignableScopes: []*string{to.Ptr("/subscriptions/s/resourceGroups/mngr")}}}
	if scope != tenantRootMarker {
		role = nil
	}
	resp.AddPage(http.StatusOK, armauthorization.RoleDefinitionsClientListResponse{RoleDefinitionListResult: armauthorization.RoleDefinitionListResult{Value: []*armauthorization.RoleDefinition{role}}}, nil)
	return
}

// defaultIdentity serves a resource group prepare made: its shared identity exists.
func defaultIdentity(_ context.Context, rg, name string, _ *armmsi.UserAssignedIdentitiesClientGetOptions) (resp azfake.Responder[armmsi.UserAssignedIdentitiesClientGetResponse], errResp azfake.ErrorResponder) {
	resp.SetResponse(http.StatusOK, armmsi.UserAssignedIdentitiesClientGetResponse{Identity: armmsi.Identity{
		ID:   to.Ptr("/subscriptions/" + fakeSubscription + "/resourceGroups/" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name),
		Name: to.Ptr(name), Properties: &armmsi.UserAssignedIdentityProperties{PrincipalID: to.Ptr("22222222-0000-4000-8000-000000000002")}}}, nil)
	return
}

// noGallery serves a resource group without the gallery of baked images.
func noGallery(_, _ string, _ *armcompute.GalleryImagesClientListByGalleryOptions) (resp azfake.PagerResponder[armcompute.GalleryImagesClientListByGalleryResponse]) {
	resp.AddResponseError(http.StatusNotFound, "ResourceNotFound")
	return
}
