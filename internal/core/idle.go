package core

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A host's idle policy says which activity keeps it running and for how
// long without any. The host's idle watcher reads it from
// <host_dir>/idle_policy at every check, so a change (mngr limit) applies
// without restarting anything.

// Activity sources: the files whose mtime is the time of the last such
// activity. Host-level ones live in <host_dir>/activity/, agent-level ones
// in <host_dir>/agents/<id>/activity/.
const (
	// SourceBoot is stamped when the host (or its container) starts.
	SourceBoot = "boot"
	// SourceUser is stamped by user input on the host.
	SourceUser = "user"
	// SourceSSH is stamped every few seconds while `mngr connect` is attached.
	SourceSSH = "ssh"
	// SourceCreate is stamped when an agent is created.
	SourceCreate = "create"
	// SourceStart is stamped when an agent is started.
	SourceStart = "start"
	// SourceAgent is stamped by the agent's hooks while it works (claude).
	SourceAgent = "agent"
	// SourceProcess is stamped every few seconds while the agent's process lives.
	SourceProcess = "process"
)

// HostSources are the activity sources kept per host; the others are per agent.
var HostSources = []string{SourceBoot, SourceUser, SourceSSH}

// AllSources lists every activity source in a fixed order.
var AllSources = []string{SourceUser, SourceAgent, SourceSSH, SourceCreate, SourceStart, SourceBoot, SourceProcess}

// Idle modes: named presets of activity sources. ModeCustom is no preset:
// the sources were given one by one. ModeDisabled never stops the host.
const (
	ModeIO       = "io"
	ModeRun      = "run"
	ModeDisabled = "disabled"
	ModeCustom   = "custom"
)

// idleModes maps each preset to its sources.
var idleModes = map[string][]string{
	ModeIO:       {SourceUser, SourceAgent, SourceSSH, SourceCreate, SourceStart, SourceBoot},
	ModeRun:      {SourceCreate, SourceStart, SourceBoot, SourceProcess},
	SourceUser:   {SourceUser},
	SourceAgent:  {SourceAgent},
	SourceSSH:    {SourceSSH},
	SourceCreate: {SourceCreate},
	SourceBoot:   {SourceBoot},
	SourceStart:  {SourceStart},
	ModeDisabled: {},
}

// IdleModeNames lists the modes --idle-mode takes, in the order help shows them.
var IdleModeNames = []string{ModeIO, SourceUser, SourceAgent, SourceSSH, SourceCreate, SourceBoot, SourceStart, ModeRun, ModeDisabled}

// DefaultIdleMode is the mode of a host created without --idle-mode.
const DefaultIdleMode = ModeIO

// IdlePolicy is a host's idle policy.
type IdlePolicy struct {
	// TimeoutSeconds is how long the host may go without activity from
	// Sources; zero or less never stops it.
	TimeoutSeconds int `json:"idle_timeout_seconds"`
	// Mode is the preset Sources match, ModeCustom, or ModeDisabled.
	Mode string `json:"idle_mode"`
	// Sources are the activity sources that keep the host running.
	Sources []string `json:"activity_sources"`
}

// Enforced says whether the policy can ever stop the host.
func (p IdlePolicy) Enforced() bool {
	return p.Mode != ModeDisabled && p.TimeoutSeconds > 0 && len(p.Sources) > 0
}

// String is the policy in one line, for people.
func (p IdlePolicy) String() string {
	if !p.Enforced() {
		return "disabled (never stops on idle)"
	}
	return fmt.Sprintf("stops after %s without %s activity (mode %s)", FormatSeconds(p.TimeoutSeconds), strings.Join(p.Sources, ", "), p.Mode)
}

// SourcesOfMode returns the sources of an idle mode, or an error wrapping
// ErrInvalidInput that lists the modes.
func SourcesOfMode(mode string) ([]string, error) {
	m := strings.ToLower(strings.TrimSpace(mode))
	src, ok := idleModes[m]
	if !ok {
		return nil, WithHint(fmt.Errorf("--idle-mode: unknown mode %q: %w", Printable(mode), ErrInvalidInput),
			"use one of %s", strings.Join(IdleModeNames, ", "))
	}
	return slices.Clone(src), nil
}

// ParseActivitySources reads a comma-separated list of sources (as
// --activity-sources takes them): each must be known, duplicates go, and
// the result is in AllSources order.
func ParseActivitySources(flag, list string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(list, ",") {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "" {
			continue
		}
		if !slices.Contains(AllSources, s) {
			return nil, WithHint(fmt.Errorf("%s: unknown activity source %q: %w", flag, Printable(s), ErrInvalidInput),
				"use one or more of %s, separated by commas", strings.Join(AllSources, ", "))
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, WithHint(fmt.Errorf("%s: no activity source given: %w", flag, ErrInvalidInput),
			"name one or more of %s, or use --idle-mode disabled to never stop", strings.Join(AllSources, ", "))
	}
	return NormalizeSources(out), nil
}

// NormalizeSources returns sources without duplicates, in AllSources order.
func NormalizeSources(sources []string) []string {
	out := []string{}
	for _, s := range AllSources {
		if slices.Contains(sources, s) {
			out = append(out, s)
		}
	}
	return out
}

// ModeOfSources names the preset whose sources are exactly sources, or
// ModeCustom.
func ModeOfSources(sources []string) string {
	n := NormalizeSources(sources)
	for _, m := range IdleModeNames {
		if m != ModeDisabled && slices.Equal(NormalizeSources(idleModes[m]), n) {
			return m
		}
	}
	return ModeCustom
}

// NewIdlePolicy builds a policy from a timeout and a mode (DefaultIdleMode
// when empty).
func NewIdlePolicy(timeoutSeconds int, mode string) (IdlePolicy, error) {
	if mode == "" {
		mode = DefaultIdleMode
	}
	src, err := SourcesOfMode(mode)
	if err != nil {
		return IdlePolicy{}, err
	}
	m := strings.ToLower(strings.TrimSpace(mode))
	return IdlePolicy{TimeoutSeconds: timeoutSeconds, Mode: m, Sources: NormalizeSources(src)}, nil
}

// IdleChange is what `create` or `mngr limit` asks to change in a policy;
// zero fields keep the current value.
type IdleChange struct {
	// Timeout is --idle-timeout (set when TimeoutSet).
	Timeout    time.Duration
	TimeoutSet bool
	// Mode is --idle-mode.
	Mode string
	// Sources is --activity-sources (replaces the mode's sources).
	Sources []string
	// Add and Remove are --add-activity-source and --remove-activity-source.
	Add, Remove []string
}

// Empty says the change changes nothing.
func (c IdleChange) Empty() bool {
	return !c.TimeoutSet && c.Mode == "" && c.Sources == nil && len(c.Add) == 0 && len(c.Remove) == 0
}

// Apply returns p changed by c. A mode sets the sources first; explicit
// sources replace them; additions and removals come last. Sources that
// match no preset make the mode ModeCustom; a change of sources on a
// disabled policy enables it again.
func (c IdleChange) Apply(p IdlePolicy) (IdlePolicy, error) {
	if c.TimeoutSet {
		p.TimeoutSeconds = int(c.Timeout / time.Second)
	}
	if c.Mode != "" {
		q, err := NewIdlePolicy(p.TimeoutSeconds, c.Mode)
		if err != nil {
			return p, err
		}
		p = q
	}
	if c.Sources == nil && len(c.Add) == 0 && len(c.Remove) == 0 {
		return p, nil
	}
	if c.Mode == ModeDisabled {
		return p, WithHint(fmt.Errorf("--idle-mode disabled with activity sources: %w", ErrInvalidInput),
			"drop the sources, or pick another mode")
	}
	src := p.Sources
	if c.Sources != nil {
		src = c.Sources
	}
	src = append(slices.Clone(src), c.Add...)
	src = slices.DeleteFunc(src, func(s string) bool { return slices.Contains(c.Remove, s) })
	p.Sources = NormalizeSources(src)
	if len(p.Sources) == 0 {
		p.Mode = ModeDisabled
		return p, nil
	}
	p.Mode = ModeOfSources(p.Sources)
	return p, nil
}

// IdlePolicyPath is the policy file on h.
func IdlePolicyPath(h *Host) string { return path.Join(h.HostDir, "idle_policy") }

// RenderIdlePolicy renders the policy file: KEY=VALUE lines a POSIX shell
// reads with `read` (no jq on the host needed).
func RenderIdlePolicy(p IdlePolicy) string {
	return "# mngr idle policy; the idle watcher reads it at every check (change it with mngr limit)\n" +
		"timeout=" + strconv.Itoa(max(0, p.TimeoutSeconds)) + "\n" +
		"mode=" + p.Mode + "\n" +
		"sources=" + strings.Join(p.Sources, ",") + "\n"
}

// ParseIdlePolicy reads a policy file; unknown keys are ignored (a newer
// mngr may add some), bad values are errors.
func ParseIdlePolicy(s string) (IdlePolicy, error) {
	var p IdlePolicy
	seen := false
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return p, fmt.Errorf("idle policy line %q is not KEY=VALUE", Printable(line))
		}
		switch k {
		case "timeout":
			n, err := strconv.Atoi(v)
			if err != nil {
				return p, fmt.Errorf("idle policy timeout %q is not a number of seconds", Printable(v))
			}
			p.TimeoutSeconds, seen = n, true
		case "mode":
			p.Mode = v
		case "sources":
			p.Sources = []string{}
			if v != "" {
				src, err := ParseActivitySources("idle policy sources", v)
				if err != nil {
					return p, err
				}
				p.Sources = src
			}
		}
	}
	if !seen {
		return p, fmt.Errorf("idle policy has no timeout line")
	}
	// The file lives on the host: a mode mngr does not know (or would not
	// write) is recomputed from the sources rather than shown.
	if _, known := idleModes[p.Mode]; !known && p.Mode != ModeCustom {
		p.Mode = ModeOfSources(p.Sources)
	}
	if p.Mode != ModeDisabled && len(p.Sources) == 0 {
		p.Mode = ModeDisabled
	}
	return p, nil
}

// ReadIdlePolicy returns h's policy; found is false when h has no policy
// file (a host made before policies existed, or the local host never given
// one).
func ReadIdlePolicy(ctx context.Context, h *Host) (p IdlePolicy, found bool, err error) {
	f := ShellQuote(IdlePolicyPath(h))
	res, err := h.mustRun(ctx, "read idle policy", "if [ -f "+f+" ]; then cat "+f+"; else echo MNGR_NO_POLICY; fi")
	if err != nil {
		return p, false, err
	}
	if strings.TrimSpace(res.Stdout) == "MNGR_NO_POLICY" {
		return p, false, nil
	}
	p, err = ParseIdlePolicy(res.Stdout)
	if err != nil {
		return p, true, fmt.Errorf("read idle policy of host %q: %w", h.Name, err)
	}
	return p, true, nil
}

// WriteIdlePolicy writes h's policy file atomically; the host's watcher
// applies it at its next check.
func WriteIdlePolicy(ctx context.Context, h *Host, p IdlePolicy) error {
	script := "mkdir -p " + ShellQuote(h.HostDir) + " && " + writeFileScript(IdlePolicyPath(h), RenderIdlePolicy(p))
	_, err := h.mustRun(ctx, "write idle policy", script)
	return err
}

// HostActivity is the time of the last activity of each source on a host.
type HostActivity struct {
	// Host holds the host-level sources (boot, user, ssh).
	Host map[string]time.Time
	// Agents holds each agent's sources (create, start, agent, process).
	Agents map[AgentID]map[string]time.Time
}

// Newest is the latest activity among sources, host- and agent-level; ok
// is false when none of them was ever recorded.
func (a HostActivity) Newest(sources []string) (t time.Time, ok bool) {
	pick := func(m map[string]time.Time) {
		for s, ts := range m {
			if slices.Contains(sources, s) && ts.After(t) {
				t, ok = ts, true
			}
		}
	}
	pick(a.Host)
	for _, m := range a.Agents {
		pick(m)
	}
	return t, ok
}

// activityScript prints one line per activity file under the host dir:
// "- SOURCE MTIME" for the host's, "AGENT_ID SOURCE MTIME" for an agent's.
func activityScript(hostDir string) string {
	return "cd " + ShellQuote(hostDir) + " || exit 3\n" +
		`for f in activity/* agents/*/activity/*; do
  [ -f "$f" ] || continue
  t=$(stat -c %Y "$f") || exit 4
  case $f in
    activity/*) echo "- ${f#activity/} $t" ;;
    *) a=${f#agents/}; echo "${a%%/*} ${f##*/} $t" ;;
  esac
done
`
}

// ReadHostActivity reads the mtimes of every activity file on h.
func ReadHostActivity(ctx context.Context, h *Host) (HostActivity, error) {
	res, err := h.mustRun(ctx, "read activity", activityScript(h.HostDir))
	if err != nil {
		return HostActivity{}, err
	}
	return parseActivity(res.Stdout)
}

func parseActivity(out string) (HostActivity, error) {
	a := HostActivity{Host: map[string]time.Time{}, Agents: map[AgentID]map[string]time.Time{}}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return a, fmt.Errorf("unexpected activity line %q", Printable(line))
		}
		sec, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return a, fmt.Errorf("unexpected activity time in %q", Printable(line))
		}
		t := time.Unix(sec, 0)
		if f[0] == "-" {
			a.Host[f[1]] = t
			continue
		}
		id := AgentID(f[0])
		if a.Agents[id] == nil {
			a.Agents[id] = map[string]time.Time{}
		}
		a.Agents[id][f[1]] = t
	}
	return a, nil
}

// StampHostActivityScript records host-level activity src on h now (the
// provider stamps boot whenever it starts a host).
func StampHostActivityScript(h *Host, src string) string {
	dir := path.Join(h.HostDir, "activity")
	return "mkdir -p " + ShellQuote(dir) + " && " + stampScript(path.Join(dir, src))
}

// CurrentIdlePolicy is h's policy: its policy file, else the provider's
// default (a host made before policies existed, or never given one).
func CurrentIdlePolicy(ctx context.Context, p Provider, h *Host) (IdlePolicy, error) {
	pol, found, err := ReadIdlePolicy(ctx, h)
	if err != nil {
		return pol, err
	}
	if !found {
		return DefaultIdlePolicyOf(p), nil
	}
	return pol, nil
}

// ApplyIdleChange changes h's policy by c and writes it; the host's watcher
// applies it at its next check.
func ApplyIdleChange(ctx context.Context, p Provider, h *Host, c IdleChange) error {
	_, err := ChangeIdlePolicy(ctx, p, h, c)
	return err
}

// ChangeIdlePolicy is ApplyIdleChange returning the policy written.
func ChangeIdlePolicy(ctx context.Context, p Provider, h *Host, c IdleChange) (IdlePolicy, error) {
	cur, err := CurrentIdlePolicy(ctx, p, h)
	if err != nil {
		return cur, err
	}
	next, err := c.Apply(cur)
	if err != nil {
		return cur, err
	}
	if err := WriteIdlePolicy(ctx, h, next); err != nil {
		return cur, err
	}
	return next, nil
}

// userActivity is a script line that stamps h's user activity, best
// effort, for what a user does to a remote host through mngr (exec,
// message); empty on this machine, which never stops on idle.
func userActivity(h *Host) string {
	if h == nil || !h.Remote {
		return ""
	}
	return "{ " + StampHostActivityScript(h, SourceUser) + "; } 2>/dev/null || :\n"
}
