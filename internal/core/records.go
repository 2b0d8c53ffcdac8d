package core

import "time"

// AgentRecord is an agent's data.json: everything needed to start, list and
// resolve the agent, also while its host is offline.
type AgentRecord struct {
	ID                  AgentID           `json:"id"`
	Name                string            `json:"name"`
	Type                string            `json:"type"`
	WorkDir             string            `json:"work_dir"`
	CreateTime          time.Time         `json:"create_time"`
	Command             string            `json:"command"`
	AdditionalCommands  []WindowCommand   `json:"additional_commands"`
	InitialMessage      string            `json:"initial_message,omitempty"`
	ReadyTimeoutSeconds float64           `json:"ready_timeout_seconds"`
	StartOnBoot         bool              `json:"start_on_boot"`
	Labels              map[string]string `json:"labels"`
	CreatedBranchName   string            `json:"created_branch_name,omitempty"`
	// SourcePath is the project directory on this machine the work dir was
	// made from ("" when nothing was transferred).
	SourcePath string `json:"source_path,omitempty"`
	// Transfer is how the project came into the work dir.
	Transfer TransferMode `json:"transfer,omitempty"`
	// BaseBranch is the branch the agent's branch started from.
	BaseBranch string `json:"base_branch,omitempty"`
	// WorkDirCreated says mngr made the work dir (a copy, a mirror or a
	// worktree), so destroying the agent removes it.
	WorkDirCreated bool     `json:"work_dir_created,omitempty"`
	Tmux           TmuxSize `json:"tmux"`
}

// WindowCommand is an extra tmux window started beside the agent.
type WindowCommand struct {
	Command    string `json:"command"`
	WindowName string `json:"window_name"`
}

// TmuxSize is the size of the agent's tmux session.
type TmuxSize struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// HostRecord is a host's data.json (the certified host data).
type HostRecord struct {
	HostID             HostID            `json:"host_id"`
	HostName           string            `json:"host_name"`
	IdleTimeoutSeconds int               `json:"idle_timeout_seconds"`
	ActivitySources    []string          `json:"activity_sources"`
	CreatedAt          time.Time         `json:"created_at"`
	UpdatedAt          time.Time         `json:"updated_at"`
	Image              string            `json:"image,omitempty"`
	GeneratedWorkDirs  []string          `json:"generated_work_dirs"`
	UserTags           map[string]string `json:"user_tags"`
	TmuxSessionPrefix  string            `json:"tmux_session_prefix"`
	StopReason         string            `json:"stop_reason,omitempty"`
	FailureReason      string            `json:"failure_reason,omitempty"`
}

// SSHInfo says how to reach a host's agents over SSH.
type SSHInfo struct {
	User           string `json:"user"`
	Host           string `json:"host"`
	Port           int    `json:"port"`
	KeyPath        string `json:"key_path"`
	KnownHostsPath string `json:"known_hosts_path,omitempty"`
	Command        string `json:"command"`
}

// Resources describes a host's size.
type Resources struct {
	CPUCount int     `json:"cpu_count"`
	MemoryGB float64 `json:"memory_gb"`
	DiskGB   float64 `json:"disk_gb"`
}
