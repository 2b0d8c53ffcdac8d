package azure

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v4"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// Consumer interfaces: only the SDK methods this package calls (STYLE 3).
type vmAPI interface {
	BeginCreateOrUpdate(ctx context.Context, rg, name string, p armcompute.VirtualMachine, o *armcompute.VirtualMachinesClientBeginCreateOrUpdateOptions) (*runtime.Poller[armcompute.VirtualMachinesClientCreateOrUpdateResponse], error)
	BeginDelete(ctx context.Context, rg, name string, o *armcompute.VirtualMachinesClientBeginDeleteOptions) (*runtime.Poller[armcompute.VirtualMachinesClientDeleteResponse], error)
	BeginDeallocate(ctx context.Context, rg, name string, o *armcompute.VirtualMachinesClientBeginDeallocateOptions) (*runtime.Poller[armcompute.VirtualMachinesClientDeallocateResponse], error)
	BeginStart(ctx context.Context, rg, name string, o *armcompute.VirtualMachinesClientBeginStartOptions) (*runtime.Poller[armcompute.VirtualMachinesClientStartResponse], error)
	NewListPager(rg string, o *armcompute.VirtualMachinesClientListOptions) *runtime.Pager[armcompute.VirtualMachinesClientListResponse]
	NewListAllPager(o *armcompute.VirtualMachinesClientListAllOptions) *runtime.Pager[armcompute.VirtualMachinesClientListAllResponse]
	InstanceView(ctx context.Context, rg, name string, o *armcompute.VirtualMachinesClientInstanceViewOptions) (armcompute.VirtualMachinesClientInstanceViewResponse, error)
	Generalize(ctx context.Context, rg, name string, o *armcompute.VirtualMachinesClientGeneralizeOptions) (armcompute.VirtualMachinesClientGeneralizeResponse, error)
}

type galleryAPI interface {
	BeginCreateOrUpdate(ctx context.Context, rg, name string, p armcompute.Gallery, o *armcompute.GalleriesClientBeginCreateOrUpdateOptions) (*runtime.Poller[armcompute.GalleriesClientCreateOrUpdateResponse], error)
	BeginDelete(ctx context.Context, rg, name string, o *armcompute.GalleriesClientBeginDeleteOptions) (*runtime.Poller[armcompute.GalleriesClientDeleteResponse], error)
	Get(ctx context.Context, rg, name string, o *armcompute.GalleriesClientGetOptions) (armcompute.GalleriesClientGetResponse, error)
}

type galleryImageAPI interface {
	BeginCreateOrUpdate(ctx context.Context, rg, gallery, name string, p armcompute.GalleryImage, o *armcompute.GalleryImagesClientBeginCreateOrUpdateOptions) (*runtime.Poller[armcompute.GalleryImagesClientCreateOrUpdateResponse], error)
	BeginDelete(ctx context.Context, rg, gallery, name string, o *armcompute.GalleryImagesClientBeginDeleteOptions) (*runtime.Poller[armcompute.GalleryImagesClientDeleteResponse], error)
	Get(ctx context.Context, rg, gallery, name string, o *armcompute.GalleryImagesClientGetOptions) (armcompute.GalleryImagesClientGetResponse, error)
	NewListByGalleryPager(rg, gallery string, o *armcompute.GalleryImagesClientListByGalleryOptions) *runtime.Pager[armcompute.GalleryImagesClientListByGalleryResponse]
}

type imageVersionAPI interface {
	BeginCreateOrUpdate(ctx context.Context, rg, gallery, image, name string, p armcompute.GalleryImageVersion, o *armcompute.GalleryImageVersionsClientBeginCreateOrUpdateOptions) (*runtime.Poller[armcompute.GalleryImageVersionsClientCreateOrUpdateResponse], error)
	BeginDelete(ctx context.Context, rg, gallery, image, name string, o *armcompute.GalleryImageVersionsClientBeginDeleteOptions) (*runtime.Poller[armcompute.GalleryImageVersionsClientDeleteResponse], error)
	Get(ctx context.Context, rg, gallery, image, name string, o *armcompute.GalleryImageVersionsClientGetOptions) (armcompute.GalleryImageVersionsClientGetResponse, error)
	NewListByGalleryImagePager(rg, gallery, image string, o *armcompute.GalleryImageVersionsClientListByGalleryImageOptions) *runtime.Pager[armcompute.GalleryImageVersionsClientListByGalleryImageResponse]
}

// galleryClients are the Compute Gallery clients mngr azure bake and
// creates from baked images use.
type galleryClients struct {
	galleries galleryAPI
	images    galleryImageAPI
	versions  imageVersionAPI
}

type nicAPI interface {
	BeginCreateOrUpdate(ctx context.Context, rg, name string, p armnetwork.Interface, o *armnetwork.InterfacesClientBeginCreateOrUpdateOptions) (*runtime.Poller[armnetwork.InterfacesClientCreateOrUpdateResponse], error)
	BeginDelete(ctx context.Context, rg, name string, o *armnetwork.InterfacesClientBeginDeleteOptions) (*runtime.Poller[armnetwork.InterfacesClientDeleteResponse], error)
	NewListPager(rg string, o *armnetwork.InterfacesClientListOptions) *runtime.Pager[armnetwork.InterfacesClientListResponse]
}

type publicIPAPI interface {
	BeginCreateOrUpdate(ctx context.Context, rg, name string, p armnetwork.PublicIPAddress, o *armnetwork.PublicIPAddressesClientBeginCreateOrUpdateOptions) (*runtime.Poller[armnetwork.PublicIPAddressesClientCreateOrUpdateResponse], error)
	BeginDelete(ctx context.Context, rg, name string, o *armnetwork.PublicIPAddressesClientBeginDeleteOptions) (*runtime.Poller[armnetwork.PublicIPAddressesClientDeleteResponse], error)
	NewListPager(rg string, o *armnetwork.PublicIPAddressesClientListOptions) *runtime.Pager[armnetwork.PublicIPAddressesClientListResponse]
}

type subnetAPI interface {
	Get(ctx context.Context, rg, vnet, name string, o *armnetwork.SubnetsClientGetOptions) (armnetwork.SubnetsClientGetResponse, error)
}

type tagsAPI interface {
	BeginUpdateAtScope(ctx context.Context, scope string, p armresources.TagsPatchResource, o *armresources.TagsClientBeginUpdateAtScopeOptions) (*runtime.Poller[armresources.TagsClientUpdateAtScopeResponse], error)
}

type roleAssignmentAPI interface {
	Create(ctx context.Context, scope, name string, p armauthorization.RoleAssignmentCreateParameters, o *armauthorization.RoleAssignmentsClientCreateOptions) (armauthorization.RoleAssignmentsClientCreateResponse, error)
	Delete(ctx context.Context, scope, name string, o *armauthorization.RoleAssignmentsClientDeleteOptions) (armauthorization.RoleAssignmentsClientDeleteResponse, error)
	Get(ctx context.Context, scope, name string, o *armauthorization.RoleAssignmentsClientGetOptions) (armauthorization.RoleAssignmentsClientGetResponse, error)
}

type identityAPI interface {
	Get(ctx context.Context, rg, name string, o *armmsi.UserAssignedIdentitiesClientGetOptions) (armmsi.UserAssignedIdentitiesClientGetResponse, error)
	CreateOrUpdate(ctx context.Context, rg, name string, p armmsi.Identity, o *armmsi.UserAssignedIdentitiesClientCreateOrUpdateOptions) (armmsi.UserAssignedIdentitiesClientCreateOrUpdateResponse, error)
	Delete(ctx context.Context, rg, name string, o *armmsi.UserAssignedIdentitiesClientDeleteOptions) (armmsi.UserAssignedIdentitiesClientDeleteResponse, error)
}

var (
	_ vmAPI             = (*armcompute.VirtualMachinesClient)(nil)
	_ nicAPI            = (*armnetwork.InterfacesClient)(nil)
	_ publicIPAPI       = (*armnetwork.PublicIPAddressesClient)(nil)
	_ subnetAPI         = (*armnetwork.SubnetsClient)(nil)
	_ tagsAPI           = (*armresources.TagsClient)(nil)
	_ roleAssignmentAPI = (*armauthorization.RoleAssignmentsClient)(nil)
	_ identityAPI       = (*armmsi.UserAssignedIdentitiesClient)(nil)
	_ galleryAPI        = (*armcompute.GalleriesClient)(nil)
	_ galleryImageAPI   = (*armcompute.GalleryImagesClient)(nil)
	_ imageVersionAPI   = (*armcompute.GalleryImageVersionsClient)(nil)
)

// Client implements vps.VpsClient, vps.AgentMirror and core.GarbageCollector over ARM.
type Client struct {
	cfg          Config
	providerName string
	subscription string
	vms          vmAPI
	nics         nicAPI
	ips          publicIPAPI
	subnets      subnetAPI
	tags         tagsAPI
	roles        roleAssignmentAPI
	identities   identityAPI
	skus         skusAPI
	usages       usageAPI
	infra        infraClients
	gallery      galleryClients
	pollEvery    time.Duration
	now          func() time.Time
	// alive says whether a process of this machine lives (gc's check of
	// an interrupted create's mngr process); processAlive.
	alive func(pid int) bool

	// roleGUID is the self-deallocate role's id once found (roleMu).
	roleMu   sync.Mutex
	roleGUID string
	// identityMu guards identityID, the resource id of the VMs' shared
	// identity once a create found it.
	identityMu sync.Mutex
	identityID string
	// assignPauses are the waits between tries of a role assignment that
	// Azure answers PrincipalNotFound (a new identity not yet replicated).
	assignPauses []time.Duration
	// listAllDenied remembers a 403 on the subscription-wide VM list, so
	// later lists go straight to per-VM instance views.
	listAllDenied atomic.Bool
}

var (
	_ vps.VpsClient         = (*Client)(nil)
	_ vps.AgentMirror       = (*Client)(nil)
	_ core.GarbageCollector = (*Client)(nil)
)

// ClientOptions are the injectable parts of a Client.
type ClientOptions struct {
	// Credential overrides DefaultAzureCredential (tests).
	Credential azcore.TokenCredential
	// Transport overrides the HTTP transport of every ARM client (tests, fakes).
	Transport policy.Transporter
	// PollFrequency is the LRO polling interval (default 2 s).
	PollFrequency time.Duration
	// Getenv reads the environment (default os.Getenv).
	Getenv func(string) string
}

// NewClient builds the ARM clients once from client factories (STYLE 11).
// It makes no network call.
func NewClient(providerName string, cfg Config, opts ClientOptions) (*Client, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	cc, err := cfg.cloudConfig()
	if err != nil {
		return nil, err
	}
	sub, err := ResolveSubscription(cfg.SubscriptionID, getenv)
	if err != nil {
		if azCLICloudName(cc) != "" {
			// The az profile mngr read is the CLI's current cloud's.
			return nil, core.WithHint(err, "%s", signInHelp(cc))
		}
		return nil, err
	}
	cred := opts.Credential
	if cred == nil {
		if cred, err = newCredential(cc, getenv); err != nil {
			return nil, err
		}
	}
	ao := armOptions(cc, opts.Transport)
	compute, err := armcompute.NewClientFactory(sub, cred, ao)
	if err != nil {
		return nil, fmt.Errorf("create compute clients: %w", err)
	}
	network, err := armnetwork.NewClientFactory(sub, cred, ao)
	if err != nil {
		return nil, fmt.Errorf("create network clients: %w", err)
	}
	resources, err := armresources.NewClientFactory(sub, cred, ao)
	if err != nil {
		return nil, fmt.Errorf("create resources clients: %w", err)
	}
	authz, err := armauthorization.NewClientFactory(sub, cred, ao)
	if err != nil {
		return nil, fmt.Errorf("create authorization clients: %w", err)
	}
	msi, err := armmsi.NewClientFactory(sub, cred, ao)
	if err != nil {
		return nil, fmt.Errorf("create managed identity clients: %w", err)
	}
	poll := opts.PollFrequency
	if poll == 0 {
		poll = 2 * time.Second
	}
	return &Client{
		cfg: cfg, providerName: providerName, subscription: sub,
		vms: compute.NewVirtualMachinesClient(), nics: network.NewInterfacesClient(),
		ips: network.NewPublicIPAddressesClient(), subnets: network.NewSubnetsClient(),
		tags: resources.NewTagsClient(), roles: authz.NewRoleAssignmentsClient(), skus: compute.NewResourceSKUsClient(),
		usages: compute.NewUsageClient(), identities: msi.NewUserAssignedIdentitiesClient(),
		infra: infraClients{
			providers: resources.NewProvidersClient(), groups: resources.NewResourceGroupsClient(),
			nsgs: network.NewSecurityGroupsClient(), vnets: network.NewVirtualNetworksClient(),
			subnets: network.NewSubnetsClient(), roleDefs: authz.NewRoleDefinitionsClient(),
		},
		gallery: galleryClients{galleries: compute.NewGalleriesClient(), images: compute.NewGalleryImagesClient(),
			versions: compute.NewGalleryImageVersionsClient()},
		pollEvery: poll, now: time.Now, alive: processAlive, assignPauses: defaultAssignPauses,
	}, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func tagValue(tags map[string]*string, k string) string {
	return deref(tags[k])
}
