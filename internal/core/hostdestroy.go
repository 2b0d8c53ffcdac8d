package core

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrSharedHost marks an attempt to destroy or collect the provider's one
// shared host (the local machine), which mngr never removes.
var ErrSharedHost = fmt.Errorf("the provider's shared host is never destroyed: %w", ErrInvalidInput)

// DestroyWholeHost destroys host h of provider p with every agent on it
// (agents, as found on the host). It refuses a shared host (the local
// machine). The agents' records kept beside the host go with it; the
// caller forgets them locally.
func DestroyWholeHost(ctx context.Context, p Provider, providerName string, h DiscoveredHost, agents []AgentRef) error {
	caps := CapabilitiesOf(p)
	if caps.SharedHost || caps.HostIsThisMachine {
		return WithHint(fmt.Errorf("destroy host %q of provider %q: %w", h.Name, providerName, ErrSharedHost),
			"destroy its agents instead, with: mngr destroy AGENT")
	}
	done := ProgressFrom(ctx).Step("destroying host " + h.Name)
	err := p.DestroyHost(ctx, h.ID)
	done(err)
	if err != nil {
		return fmt.Errorf("destroy host %q: %w", h.Name, err)
	}
	if ap, ok := p.(AgentPersister); ok {
		for _, a := range agents {
			if err := ap.RemovePersistedAgent(ctx, h.ID, a.Record.ID); err != nil && !errors.Is(err, ErrNotSupported) && !errors.Is(err, ErrNotFound) {
				ProgressFrom(ctx).Warn(fmt.Sprintf("record of agent %q kept beside host %q: %v", a.Record.Name, h.Name, err))
			}
		}
	}
	return nil
}

// DefaultMinOnlineHostAge is how long a running host without agents must
// have been quiet before gc destroys it (default_min_online_host_age_seconds).
const DefaultMinOnlineHostAge = 600 * time.Second

// QuietEmptyHost is gc's rule for a running, non-shared host with no agent:
// it goes once its newest activity (any source; the host's creation when
// none was recorded) is at least minAge old. It returns why, or "" to keep
// it.
func QuietEmptyHost(act HostActivity, created, now time.Time, minAge time.Duration) string {
	last := created
	if t, ok := act.Newest(AllSources); ok && t.After(last) {
		last = t
	}
	if last.IsZero() {
		return "" // nothing says how old it is: kept
	}
	quiet := now.Sub(last)
	if quiet < minAge {
		return ""
	}
	return fmt.Sprintf("running host without agents, quiet for %s (at least %s)",
		FormatSeconds(int(quiet/time.Second)), FormatSeconds(int(minAge/time.Second)))
}
