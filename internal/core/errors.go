package core

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel error categories. Layers wrap them with %w; the CLI maps them to
// exit codes and messages with errors.Is.
var (
	// ErrInvalidInput marks bad user input (flags, names, config values).
	ErrInvalidInput = errors.New("invalid input")
	// ErrNotFound marks a missing agent, host or cloud resource.
	ErrNotFound = errors.New("not found")
	// ErrConflict marks a name or resource that already exists or is in use.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable marks a provider that cannot be used (no credentials, no subscription, not prepared).
	ErrUnavailable = errors.New("provider unavailable")
	// ErrUnauthorized marks a refused credential or missing permission.
	ErrUnauthorized = errors.New("not authorized")
	// ErrQuotaExceeded marks a cloud quota limit.
	ErrQuotaExceeded = errors.New("quota exceeded")
	// ErrCapacity marks a size or region without capacity right now.
	ErrCapacity = errors.New("no capacity")
	// ErrTimeout marks an operation that did not finish in its time budget.
	ErrTimeout = errors.New("timed out")
	// ErrHostOffline marks a host that exists but cannot be reached (stopped, deallocated).
	ErrHostOffline = errors.New("host offline")
	// ErrNotSupported marks an operation a provider does not offer.
	ErrNotSupported = errors.New("not supported")
	// ErrProcessesRemain marks an agent whose processes outlived TERM and KILL.
	ErrProcessesRemain = errors.New("processes remain")
	// ErrStateRemains marks an agent's files (record, env, work dir) that
	// could not be removed, say on a read-only or full disk.
	ErrStateRemains = errors.New("local state remains")
	// ErrSetupFailed marks a set-up step the user asked for on create (an
	// extra provision or post-host-create command, an upload) that failed.
	ErrSetupFailed = errors.New("set-up failed")
)

// HintError carries the next step a user should take alongside an error.
type HintError struct {
	Err  error
	Hint string
}

// Error returns the wrapped error's text; the hint is shown separately.
func (e *HintError) Error() string { return e.Err.Error() }

// Unwrap exposes the wrapped error to errors.Is and errors.As.
func (e *HintError) Unwrap() error { return e.Err }

// WithHint wraps err with a next-step hint; a nil err stays nil.
func WithHint(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &HintError{Err: err, Hint: fmt.Sprintf(format, args...)}
}

// HintOf returns the outermost hint attached to err, or "".
func HintOf(err error) string {
	var h *HintError
	if errors.As(err, &h) {
		return h.Hint
	}
	return ""
}

// Failure categories for stop, destroy and gc, ordered by exit code.
const (
	FailureOther                = 1
	FailureTimeout              = 2
	FailureProcessesRemain      = 3
	FailureLocalStateRemains    = 4
	FailureHostResourceRemains  = 5
	FailureProviderInaccessible = 6
)

// redundantWhen lists, per category, words that show a message already says
// what its category words would add; "" means the words never add anything
// a person needs (the category is shown as the exit code and error_class).
var redundantWhen = []struct {
	err     error
	markers []string
}{
	{ErrInvalidInput, []string{""}},
	{ErrConflict, []string{""}},
	{ErrNotFound, []string{"not found", "does not exist", "no such", "unknown", "not a ", "not in ", "no agent"}},
	{ErrTimeout, []string{"timed out", "within", "still ", " after "}},
	{ErrHostOffline, []string{" is ", "not reachable", "no public"}},
	{ErrUnavailable, []string{"not installed", "not set", "not answering", "no subscription", "not available", "no credentials", "cannot", "ssh failed", "names none"}},
}

// Describe is err's text for people: the category words that wrapping with
// %w appends (": not found", ": invalid input") are left out where the
// message already says as much; the category itself is shown as the exit
// code and error_class.
func Describe(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	for _, c := range redundantWhen {
		t := ": " + c.err.Error()
		rest := strings.TrimSuffix(s, t)
		for _, next := range []string{":", " (", ")", ";", ","} {
			rest = strings.ReplaceAll(rest, t+next, next)
		}
		if rest == s || rest == "" {
			continue
		}
		low := strings.ToLower(rest)
		for _, m := range c.markers {
			if strings.Contains(low, m) {
				s = rest
				break
			}
		}
	}
	return s
}
