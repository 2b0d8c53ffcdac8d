package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mngr-azure/mngr/internal/core"
)

// idleFlags are the idle-policy flags create and limit share, as given.
type idleFlags struct {
	Timeout string
	Mode    string
	Sources string
	// Add and Remove are limit's --add-activity-source and
	// --remove-activity-source.
	Add, Remove []string

	changed func(name string) bool
}

// addIdleFlags adds --idle-timeout, --idle-mode and --activity-sources to fl
// (and, with edits, limit's --add/--remove-activity-source).
func addIdleFlags(fl *pflag.FlagSet, v *idleFlags, edits bool) {
	fl.StringVar(&v.Timeout, "idle-timeout", "", "stop the host after this long without activity: "+core.DurationForms)
	fl.StringVar(&v.Mode, "idle-mode", "", "which activity keeps the host running: "+strings.Join(core.IdleModeNames, ", ")+" (default io)")
	fl.StringVar(&v.Sources, "activity-sources", "", "comma-separated activity sources instead of the mode's: "+strings.Join(core.AllSources, ", "))
	if edits {
		fl.StringArrayVar(&v.Add, "add-activity-source", nil, "add one activity source to the host's (repeatable)")
		fl.StringArrayVar(&v.Remove, "remove-activity-source", nil, "remove one activity source from the host's (repeatable)")
	}
	v.changed = func(name string) bool { return fl.Changed(name) }
}

// change checks the flags and returns what they change in a policy.
func (v *idleFlags) change() (core.IdleChange, error) {
	var c core.IdleChange
	if v.changed == nil {
		return c, nil
	}
	if v.changed("idle-timeout") {
		d, err := core.ParseDuration("--idle-timeout", v.Timeout)
		if err != nil {
			return c, err
		}
		if d > 0 && d < time.Second {
			d = time.Second
		}
		c.Timeout, c.TimeoutSet = d, true
	}
	if v.changed("idle-mode") {
		if _, err := core.SourcesOfMode(v.Mode); err != nil {
			return c, err
		}
		c.Mode = strings.ToLower(strings.TrimSpace(v.Mode))
	}
	if v.changed("activity-sources") {
		src, err := core.ParseActivitySources("--activity-sources", v.Sources)
		if err != nil {
			return c, err
		}
		c.Sources = src
	}
	if c.Sources != nil && (len(v.Add) > 0 || len(v.Remove) > 0) {
		return c, core.WithHint(fmt.Errorf("--activity-sources with --add-activity-source or --remove-activity-source: %w", core.ErrInvalidInput),
			"give the whole list with --activity-sources, or change it one source at a time")
	}
	for _, s := range v.Add {
		src, err := core.ParseActivitySources("--add-activity-source", s)
		if err != nil {
			return c, err
		}
		c.Add = append(c.Add, src...)
	}
	for _, s := range v.Remove {
		src, err := core.ParseActivitySources("--remove-activity-source", s)
		if err != nil {
			return c, err
		}
		c.Remove = append(c.Remove, src...)
	}
	// Conflicts (a disabled mode with sources) show now, not on the host.
	if _, err := c.Apply(core.IdlePolicy{Mode: core.ModeIO, Sources: []string{core.SourceUser}}); err != nil {
		return c, err
	}
	return c, nil
}

// warnIdleNotEnforced says that a provider without idle enforcement (the
// local host, which is this machine and is never stopped) records the
// policy only.
func warnIdleNotEnforced(ctx context.Context, prov core.Provider, name string) {
	if _, ok := prov.(core.IdlePolicyDefaulter); !ok {
		core.ProgressFrom(ctx).Warn(fmt.Sprintf("provider %q never stops its host on idle: the idle policy is recorded but not enforced", name))
	}
}

// plannedIdlePolicy is create --dry-run's note on the new host's idle
// policy ("" when the flags do not make one).
func plannedIdlePolicy(prov core.Provider, v idleFlags) string {
	c, err := v.change()
	if err != nil {
		return ""
	}
	pol, err := c.Apply(core.DefaultIdlePolicyOf(prov))
	if err != nil {
		return ""
	}
	if _, ok := prov.(core.IdlePolicyDefaulter); !ok {
		if c.Empty() {
			return ""
		}
		return "idle policy (recorded, not enforced: this provider never stops its hosts on idle): " + pol.String()
	}
	return "idle policy: " + pol.String()
}
