package core

import _ "embed" // the agent scripts

// The agent layer's scripts, run on a host through its Executor with their
// values bound by ScriptCall. Each file's header documents its arguments
// and exit codes; the exit codes are the exit… constants of this package.
var (
	//go:embed scripts/start_agent.sh
	startAgentSh string
	//go:embed scripts/stop_agent.sh
	stopAgentSh string
	//go:embed scripts/list_agents.sh
	listAgentsSh string
	//go:embed scripts/install_cli.sh
	installCLISh string
	//go:embed scripts/pane.sh
	paneSh string
	//go:embed scripts/claim_name.sh
	claimNameSh string
)

// agentConfigSh prepares claude's and codex's config for an agent.
//
//go:embed scripts/agent_config.sh
var agentConfigSh string

// transcriptSh prints an agent CLI's own session record.
//
//go:embed scripts/transcript.sh
var transcriptSh string
