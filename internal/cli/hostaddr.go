package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mngr-azure/mngr/internal/core"
)

// hostRef is one host found on a provider, by its address.
type hostRef struct {
	ProviderName string
	Provider     core.Provider
	Host         core.DiscoveredHost
}

// hostAddress is HOST[.PROVIDER] (or a host id), as destroy's @HOST and
// limit's --host take it.
type hostAddress struct{ Host, Provider string }

func (a hostAddress) String() string {
	if a.Provider == "" {
		return a.Host
	}
	return a.Host + "." + a.Provider
}

// parseHostAddress splits HOST[.PROVIDER]; a leading @ is dropped.
func parseHostAddress(s string) (hostAddress, error) {
	var a hostAddress
	a.Host, a.Provider, _ = strings.Cut(strings.TrimPrefix(s, "@"), ".")
	if a.Host == "" {
		return a, core.WithHint(fmt.Errorf("invalid host address %q: no host name: %w", core.Printable(s), core.ErrInvalidInput),
			"write HOST or HOST.PROVIDER (mngr list shows the hosts)")
	}
	if _, err := core.ParseHostID(a.Host); err != nil {
		if err := core.ValidateName("host", a.Host); err != nil {
			return a, err
		}
	}
	if a.Provider != "" {
		if err := core.ValidateName("provider", a.Provider); err != nil {
			return a, err
		}
	}
	return a, nil
}

// listHostRefs lists the hosts of every active provider (or of only),
// without connecting to them. A provider that cannot be used is reported
// through warn and skipped, as list does.
func listHostRefs(ctx context.Context, f *Factory, only []string, warn func(string)) ([]hostRef, error) {
	names := only
	if len(names) == 0 {
		var err error
		if names, err = f.ProviderNames(); err != nil {
			return nil, err
		}
	}
	var out []hostRef
	for _, n := range names {
		p, err := f.Provider(ctx, n)
		if err == nil {
			var hosts []core.DiscoveredHost
			hosts, err = p.ListHosts(ctx)
			for _, h := range hosts {
				out = append(out, hostRef{ProviderName: n, Provider: p, Host: h})
			}
		}
		if err == nil {
			continue
		}
		if (errors.Is(err, core.ErrUnavailable) || errors.Is(err, core.ErrInvalidInput)) && len(only) == 0 && implicitProvider(f, n) {
			continue // a default instance nobody configured
		}
		if errors.Is(err, core.ErrUnavailable) && len(only) == 0 {
			warn(fmt.Sprintf("provider %q is not available, skipped: %v", n, err))
			continue
		}
		return nil, fmt.Errorf("list hosts of provider %q: %w", n, err)
	}
	return out, nil
}

// findHost returns the one host that address s names.
func findHost(ctx context.Context, f *Factory, s string) (hostRef, error) {
	a, err := parseHostAddress(s)
	if err != nil {
		return hostRef{}, err
	}
	var only []string
	if a.Provider != "" {
		only = []string{a.Provider}
	}
	all, err := listHostRefs(ctx, f, only, func(string) {})
	if err != nil {
		return hostRef{}, err
	}
	var matches []hostRef
	for _, r := range all {
		if (r.Host.Name == a.Host || string(r.Host.ID) == a.Host) && r.Host.State != core.HostDestroyed {
			matches = append(matches, r)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return hostRef{}, core.WithHint(fmt.Errorf("no host named %q: %w", a.String(), core.ErrNotFound), "run 'mngr list' to see the hosts and their names")
	}
	var where []string
	for _, m := range matches {
		where = append(where, m.Host.Name+"."+m.ProviderName+" (id "+string(m.Host.ID)+")")
	}
	return hostRef{}, core.WithHint(fmt.Errorf("host name %q matches %d hosts (%s): %w", a.Host, len(matches), strings.Join(where, ", "), core.ErrConflict),
		"name the provider too (HOST.PROVIDER), or give the host's id")
}

// online connects to the host of r, or says how to start it.
func (r hostRef) online(ctx context.Context) (*core.Host, error) {
	h, err := r.Provider.ConnectHost(ctx, r.Host.ID)
	if errors.Is(err, core.ErrHostOffline) {
		return nil, core.WithHint(fmt.Errorf("host %q is %s: %w", r.Host.Name, r.Host.State, err),
			"start one of its agents with 'mngr start AGENT' first")
	}
	if err != nil {
		return nil, fmt.Errorf("connect host %q: %w", r.Host.Name, err)
	}
	return h, nil
}
