package vps

import (
	_ "embed" // the host setup scripts

	"github.com/mngr-azure/mngr/internal/core"
)

// IdleWatcherScript (scripts/idle_watcher.sh) runs inside the agent
// container as `sh idle_watcher.sh HOST_DIR DEFAULT_TIMEOUT_SECONDS
// [MAX_CHECK_SECONDS]`. At every check it rereads the host's idle policy
// (HOST_DIR/idle_policy, core.RenderIdlePolicy; the default timeout in io
// mode without one) and takes the newest mtime among the activity files of
// the policy's sources (an attached tmux client counts as ssh); once that
// is older than the timeout it touches HOST_DIR/commands/stop-instance-requested
// (which the VM's systemd path unit watches) and exits. A disabled policy
// never fires, and mngr limit can enable it again.
//
//go:embed scripts/idle_watcher.sh
var IdleWatcherScript string

// The scripts setup runs on the VM or in its container, with their values
// bound by core.ScriptCall; each file's header documents its arguments.
var (
	//go:embed scripts/cloud_init_probe.sh
	cloudInitProbeSh string
	//go:embed scripts/container_run.sh
	containerRunSh string
	//go:embed scripts/container_ssh.sh
	containerSSHSh string
	//go:embed scripts/cloudinit_base_packages.sh
	cloudInitBasePackagesSh string
	//go:embed scripts/cloudinit_docker.sh
	cloudInitDockerSh string
	//go:embed scripts/docker_apt_key.sh
	dockerAptKeySh string
	//go:embed scripts/idle_stop.sh
	idleStopSh string
	//go:embed scripts/metadata_firewall.sh
	metadataFirewallSh string
	//go:embed scripts/bake_scrub.sh
	bakeScrubSh string
	//go:embed scripts/bake_agent_clis.sh
	bakeAgentCLIsSh string
)

// cloudInitProbe (scripts/cloud_init_probe.sh) prints READY or FAILED (with
// the failed steps) as soon as a marker appears, checking four times a
// second for up to 8 s (well inside probeTimeout), else WAIT. Waiting on the
// VM instead of between SSH round trips ends the wait within 0.25 s of
// cloud-init finishing.
var cloudInitProbe = core.ScriptCall(cloudInitProbeSh, ReadyMarker, FailedMarker)

// scrubScript (scripts/scrub_user_data.sh) shreds the plain copies of the
// user data cloud-init keeps in each instance directory (the raw document,
// its processed form and the merged cloud-config), all of which hold the
// VM's private host key. It cannot reach the copies cloud-init needs or does
// not own: see docs/security.md.
//
//go:embed scripts/scrub_user_data.sh
var scrubScript string
