package azure

import (
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
// systemd unit) to deallocate itself: a managed-identity token for the
// configured cloud's Resource Manager audience and the VM's own resource id
// from the instance metadata service, then POST {endpoint}{id}/deallocate on
// that cloud's Resource Manager endpoint. It exits non-zero when Azure
// refuses (no role assignment: HTTP 403) or does not answer; the caller logs
// that and leaves the VM running. It returns "" when the cloud block is
// invalid, which NewClient has already rejected.
func (c *Client) SelfStopScript() string {
	cc, err := c.cfg.cloudConfig()
	if err != nil {
		return ""
	}
	return selfStopScript(cc.Services[cloud.ResourceManager])
}

func selfStopScript(rm cloud.ServiceConfiguration) string {
	endpoint := strings.TrimRight(rm.Endpoint, "/")
	tokenURL := "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=" + url.QueryEscape(rm.Audience)
	idURL := "http://169.254.169.254/metadata/instance/compute/resourceId?api-version=2021-02-01&format=text"
	return `#!/bin/sh
# mngr: deallocate this VM through its system-assigned managed identity.
# Needs the self-deallocate role (` + roleName + `) assigned to the identity on the VM.
set -u
log() { logger -t mngr-self-stop "$*"; echo "mngr-self-stop: $*" >&2; }
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
if ! curl -fsS --max-time 20 -H Metadata:true -o "$out" ` + core.ShellQuote(tokenURL) + `; then
  log "no managed-identity token from the instance metadata service"
  exit 1
fi
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$out") || {
  log "the instance metadata service answered without an access token"
  exit 1
}
id=$(curl -fsS --max-time 20 -H Metadata:true ` + core.ShellQuote(idURL) + `) || {
  log "no resource id from the instance metadata service"
  exit 1
}
code=$(curl -sS --max-time 120 -o "$out" -w '%{http_code}' -X POST -H "Authorization: Bearer $token" -H 'Content-Length: 0' \
  ` + core.ShellQuote(endpoint) + `"$id/deallocate?api-version=` + selfStopAPIVersion + `")
case $code in
  200|202) log "deallocation of $id accepted (HTTP $code)"; exit 0 ;;
esac
log "deallocation of $id refused (HTTP $code): $(head -c 600 "$out")"
exit 1
`
}
