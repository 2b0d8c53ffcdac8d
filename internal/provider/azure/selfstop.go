package azure

import (
	_ "embed" // the self-stop script
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

var _ vps.SelfStopper = (*Client)(nil)

// selfStopAPIVersion is the Compute API version the in-guest script uses.
const selfStopAPIVersion = "2024-07-01"

// SelfStopScript returns the script a VM runs (from its idle watcher's
// systemd unit) to deallocate itself: a token of mngr's user-assigned
// identity (named by its resource id, msi_res_id) for the configured
// cloud's Resource Manager audience and the VM's own resource id from the
// instance metadata service, then POST {endpoint}{id}/deallocate on that
// cloud's Resource Manager endpoint. It exits non-zero when Azure refuses
// (no role assignment: HTTP 403) or does not answer; the caller logs that
// and leaves the VM running. It returns "" when the cloud block is
// invalid, which NewClient has already rejected.
func (c *Client) SelfStopScript() string {
	cc, err := c.cfg.cloudConfig()
	if err != nil {
		return ""
	}
	return selfStopScript(cc.Services[cloud.ResourceManager], c.identityResourceID())
}

// selfStopSh is the in-guest script; selfStopScript binds its arguments.
//
//go:embed scripts/self_stop.sh
var selfStopSh string

func selfStopScript(rm cloud.ServiceConfiguration, identityID string) string {
	endpoint := strings.TrimRight(rm.Endpoint, "/")
	tokenURL := "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=" + url.QueryEscape(rm.Audience) +
		"&msi_res_id=" + url.QueryEscape(identityID)
	idURL := "http://169.254.169.254/metadata/instance/compute/resourceId?api-version=2021-02-01&format=text"
	return core.ScriptCall(selfStopSh, endpoint, tokenURL, idURL, selfStopAPIVersion)
}
