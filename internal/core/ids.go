// Package core holds mngr's cloud-neutral model: ids, states, records, typed
// errors, the Provider interface with its optional capabilities, and the agent
// layer that runs agents in tmux over an Executor.
package core

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// AgentID identifies an agent: "agent-" followed by 32 lowercase hex digits.
type AgentID string

// HostID identifies a host: "host-" followed by 32 lowercase hex digits.
type HostID string

var idHex = LazyRegexp(`^[0-9a-f]{32}$`)

func newID(prefix string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	// Version 4 UUID bits, as uuid4().hex produces.
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return prefix + hex.EncodeToString(b[:])
}

// NewAgentID returns a fresh random agent id.
func NewAgentID() AgentID { return AgentID(newID("agent-")) }

// NewHostID returns a fresh random host id.
func NewHostID() HostID { return HostID(newID("host-")) }

// ParseAgentID validates s as an agent id.
func ParseAgentID(s string) (AgentID, error) {
	if !strings.HasPrefix(s, "agent-") || !idHex().MatchString(strings.TrimPrefix(s, "agent-")) {
		return "", fmt.Errorf("invalid agent id %q: want agent-<32 hex digits>: %w", s, ErrInvalidInput)
	}
	return AgentID(s), nil
}

// ParseHostID validates s as a host id.
func ParseHostID(s string) (HostID, error) {
	if !strings.HasPrefix(s, "host-") || !idHex().MatchString(strings.TrimPrefix(s, "host-")) {
		return "", fmt.Errorf("invalid host id %q: want host-<32 hex digits>: %w", s, ErrInvalidInput)
	}
	return HostID(s), nil
}

// Hex returns the 32 hex digits of the id without its prefix.
func (id HostID) Hex() string { return strings.TrimPrefix(string(id), "host-") }

// Hex returns the 32 hex digits of the id without its prefix.
func (id AgentID) Hex() string { return strings.TrimPrefix(string(id), "agent-") }

var nameRe = LazyRegexp(`^[a-zA-Z0-9][a-zA-Z0-9_-]*[a-zA-Z0-9]$|^[a-zA-Z0-9]$`)

// MaxNameLength is the longest agent or host name: one DNS label, so a name
// fits an Azure resource name, a tmux session name with its prefix and a git
// branch mngr/<name> alike.
const MaxNameLength = 63

// ValidateName checks an agent or host name against mngr's naming rule.
func ValidateName(kind, name string) error {
	if name == "" {
		return WithHint(fmt.Errorf("the %s name is empty: %w", kind, ErrInvalidInput),
			"give a name of letters, digits, '-' and '_', or leave the name out for a generated one")
	}
	if len(name) > MaxNameLength {
		return WithHint(fmt.Errorf("%s name %.20q… is %d characters long, more than %d: %w", kind, name, len(name), MaxNameLength, ErrInvalidInput),
			"use a name of at most %d characters", MaxNameLength)
	}
	if !nameRe().MatchString(name) {
		return &HintError{
			Err:  fmt.Errorf("invalid %s name %q: %w", kind, name, ErrInvalidInput),
			Hint: "use letters, digits, '-' and '_', starting and ending with a letter or digit",
		}
	}
	return nil
}
