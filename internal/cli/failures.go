package cli

import (
	"fmt"
	"io"

	"github.com/mngr-azure/mngr/internal/core"
)

// reportSummary is the part of the JSON result that every verb acting on
// several agents (stop, start, destroy) shares.
type reportSummary struct {
	Count        int            `json:"count"`
	Failures     []core.Failure `json:"failures"`
	FailureCount int            `json:"failure_count"`
	ExitCode     int            `json:"exit_code"`
}

// summarize fills a reportSummary from rep.
func summarize(rep *core.Report) reportSummary {
	fs := rep.Failures
	if fs == nil {
		fs = []core.Failure{}
	}
	return reportSummary{Count: len(rep.Done()), Failures: fs, FailureCount: len(fs), ExitCode: rep.ExitCode()}
}

// agentResultEvent is the jsonl line of one agent's outcome
// ({"event":"stop_result","agent":…,"success":…,"error":…}).
type agentResultEvent struct {
	Event string `json:"event"`
	core.AgentResult
}

// resultEvents turns rep's per-agent results into jsonl events named event.
func resultEvents(event string, rep *core.Report) []any {
	events := make([]any, 0, len(rep.Results))
	for _, r := range rep.Results {
		events = append(events, agentResultEvent{Event: event, AgentResult: r})
	}
	return events
}

// emitReport prints the report of a verb that acts on several agents and
// may fail per agent: "<verb> agent: NAME" for each agent done, then tail
// (if any) on stdout, and each failure with its next step on stderr; json
// prints result, jsonl the per-agent events. The exit code is that of the
// most severe failure.
func emitReport(ios *IOStreams, format Format, verb, event, tail string, rep *core.Report, result any) error {
	if err := Emit(ios, format, func(w io.Writer) error {
		for _, n := range rep.Done() {
			logf(w, "%s agent: %s\n", verb, n)
		}
		if tail != "" {
			logf(w, "%s\n", tail)
		}
		writeFailures(ios.ErrOut, rep.Failures)
		return nil
	}, result, resultEvents(event, rep)); err != nil {
		return err
	}
	return failuresExit(rep.Failures)
}

// writeFailures prints each failure and its next step for people.
func writeFailures(w io.Writer, fs []core.Failure) {
	for _, fl := range fs {
		logf(w, "Error: %s\n", core.PrintableLines(fl.Message))
		if fl.Hint != "" {
			logf(w, "  %s\n", core.PrintableLines(fl.Hint))
		}
	}
}

// failuresExit is the already-printed error carrying the exit code of the
// most severe of fs, nil when fs is empty.
func failuresExit(fs []core.Failure) error {
	code := core.WorstFailure(fs).ExitCode()
	if code == 0 {
		return nil
	}
	return &exitError{code: ExitCode(code), err: fmt.Errorf("%d failure(s)", len(fs)), printed: true}
}
