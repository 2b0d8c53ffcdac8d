package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/mngr-azure/mngr/internal/core"
)

// failure is one agent a stop, destroy or gc could not finish.
type failure struct {
	Category  string      `json:"category"`
	Message   string      `json:"message"`
	Hint      string      `json:"hint,omitempty"`
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
	return failure{Category: cat, Message: err.Error(), Hint: core.HintOf(err), AgentName: agent, HostID: host, code: code}
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

// emitFailureReport prints the result of a verb that acts on several agents
// and may fail per agent (stop, destroy): the agents done under key, the
// failures, and an exit code from the most severe failure category.
func emitFailureReport(ios *IOStreams, format Format, key, verb string, done []string, failures []failure, events []any) error {
	code := failureExitCode(failures)
	out := map[string]any{key: done, "count": len(done), "failures": failures, "failure_count": len(failures), "exit_code": code}
	if err := Emit(ios, format, func(w io.Writer) error {
		for _, n := range done {
			logf(w, "%s agent: %s\n", verb, n)
		}
		for _, fl := range failures {
			logf(ios.ErrOut, "Error: %s\n", fl.Message)
		}
		return nil
	}, out, events); err != nil {
		return err
	}
	if code != 0 {
		return &exitError{code: ExitCode(code), err: fmt.Errorf("%d failure(s)", len(failures)), printed: true}
	}
	return nil
}
