package cli

import (
	"errors"

	"github.com/mngr-azure/mngr/internal/core"
)

// failure is one agent a stop, destroy or gc could not finish.
type failure struct {
	Category  string      `json:"category"`
	Message   string      `json:"message"`
	AgentName string      `json:"agent_name,omitempty"`
	HostID    core.HostID `json:"host_id,omitempty"`
	code      int
}

// categorize maps an error to a failure category and its exit code.
func categorize(err error) (string, int) {
	switch {
	case errors.Is(err, core.ErrTimeout):
		return "TIMEOUT", core.FailureTimeout
	case errors.Is(err, core.ErrUnavailable), errors.Is(err, core.ErrUnauthorized):
		return "PROVIDER_INACCESSIBLE", core.FailureProviderInaccessible
	default:
		return "OTHER", core.FailureOther
	}
}

func newFailure(err error, agent string, host core.HostID, category string) failure {
	cat, code := categorize(err)
	if category != "" {
		cat = category
		code = categoryCodes[category]
	}
	return failure{Category: cat, Message: err.Error(), AgentName: agent, HostID: host, code: code}
}

var categoryCodes = map[string]int{
	"OTHER": core.FailureOther, "TIMEOUT": core.FailureTimeout, "PROCESSES_REMAIN": core.FailureProcessesRemain,
	"LOCAL_STATE_REMAINS": core.FailureLocalStateRemains, "HOST_RESOURCE_REMAINS": core.FailureHostResourceRemains,
	"PROVIDER_INACCESSIBLE": core.FailureProviderInaccessible,
}

// severity orders categories: the most severe decides the exit code.
var severity = map[int]int{
	core.FailureHostResourceRemains: 6, core.FailureProcessesRemain: 5, core.FailureLocalStateRemains: 4,
	core.FailureTimeout: 3, core.FailureProviderInaccessible: 2, core.FailureOther: 1,
}

// failureExitCode is the code of the most severe failure, 0 for none.
func failureExitCode(fs []failure) int {
	best := 0
	for _, f := range fs {
		if best == 0 || severity[f.code] > severity[best] {
			best = f.code
		}
	}
	return best
}
