package core

import "errors"

// FailureCategory says what an unfinished stop, start, destroy or gc left
// behind; each category has its own exit code.
type FailureCategory string

// Failure categories, named as the reference tool names them.
const (
	CategoryOther                FailureCategory = "OTHER"
	CategoryTimeout              FailureCategory = "TIMEOUT"
	CategoryProcessesRemain      FailureCategory = "PROCESSES_REMAIN"
	CategoryLocalStateRemains    FailureCategory = "LOCAL_STATE_REMAINS"
	CategoryHostResourceRemains  FailureCategory = "HOST_RESOURCE_REMAINS"
	CategoryProviderInaccessible FailureCategory = "PROVIDER_INACCESSIBLE"
)

// ExitCode is the process exit status of a command whose most severe
// failure is c; 0 for no failure ("").
func (c FailureCategory) ExitCode() int {
	switch c {
	case "":
		return 0
	case CategoryTimeout:
		return FailureTimeout
	case CategoryProcessesRemain:
		return FailureProcessesRemain
	case CategoryLocalStateRemains:
		return FailureLocalStateRemains
	case CategoryHostResourceRemains:
		return FailureHostResourceRemains
	case CategoryProviderInaccessible:
		return FailureProviderInaccessible
	default:
		return FailureOther
	}
}

// severity orders categories: the most severe one decides the exit code.
// Something left running or billing outranks a mere error.
func (c FailureCategory) severity() int {
	switch c {
	case CategoryHostResourceRemains:
		return 6
	case CategoryProcessesRemain:
		return 5
	case CategoryLocalStateRemains:
		return 4
	case CategoryTimeout:
		return 3
	case CategoryProviderInaccessible:
		return 2
	default:
		return 1
	}
}

// Categorize sorts an error into a failure category by its typed cause.
func Categorize(err error) FailureCategory {
	switch {
	case errors.Is(err, ErrProcessesRemain):
		return CategoryProcessesRemain
	case errors.Is(err, ErrStateRemains):
		return CategoryLocalStateRemains
	case errors.Is(err, ErrTimeout):
		return CategoryTimeout
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrUnauthorized):
		return CategoryProviderInaccessible
	default:
		return CategoryOther
	}
}

// Failure is one agent or host a use case could not finish.
type Failure struct {
	Category  FailureCategory `json:"category"`
	Message   string          `json:"message"`
	Hint      string          `json:"hint,omitempty"`
	AgentName string          `json:"agent_name,omitempty"`
	HostID    HostID          `json:"host_id,omitempty"`
}

// NewFailure describes err for agent (or "" for a host-wide failure) on
// host. An empty category is chosen from err with Categorize.
func NewFailure(err error, agent string, host HostID, category FailureCategory) Failure {
	if category == "" {
		category = Categorize(err)
	}
	return Failure{Category: category, Message: Describe(err), Hint: HintOf(err), AgentName: agent, HostID: host}
}

// AgentResult is the outcome of a use case for one agent.
type AgentResult struct {
	Agent   string `json:"agent"`
	Success bool   `json:"success"`
	Error   string `json:"error,omitempty"`
}

// Report is what a use case acting on several agents did: every agent's
// result in the order asked, and each failure with its category (host
// failures included, which belong to no single agent's result).
type Report struct {
	Results  []AgentResult
	Failures []Failure
}

// Done lists the agents that succeeded, in the order asked.
func (r *Report) Done() []string {
	done := []string{}
	for _, a := range r.Results {
		if a.Success {
			done = append(done, a.Agent)
		}
	}
	return done
}

// ExitCode is the exit code of the most severe failure, 0 when none.
func (r *Report) ExitCode() int { return WorstFailure(r.Failures).ExitCode() }

// WorstFailure is the most severe category among fs, "" (exit code 0)
// when fs is empty.
func WorstFailure(fs []Failure) FailureCategory {
	var worst FailureCategory
	for _, f := range fs {
		if worst == "" || f.Category.severity() > worst.severity() {
			worst = f.Category
		}
	}
	return worst
}

func (r *Report) succeed(agent string) {
	r.Results = append(r.Results, AgentResult{Agent: agent, Success: true})
}

// fail records an agent's failure (its result and the failure).
func (r *Report) fail(f Failure) {
	r.Results = append(r.Results, AgentResult{Agent: f.AgentName, Error: f.Message})
	r.Failures = append(r.Failures, f)
}

// failHost records a failure that belongs to a host, not to one agent's result.
func (r *Report) failHost(f Failure) { r.Failures = append(r.Failures, f) }
