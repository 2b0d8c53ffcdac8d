package core

import (
	"errors"
	"fmt"
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
