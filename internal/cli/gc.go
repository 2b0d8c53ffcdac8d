package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

type gcOptions struct {
	f *Factory

	Providers []string
	DryRun    bool
	// OnError is "continue" (every provider, then the hosts without
	// agents) or "abort" (nothing more after the first provider error).
	OnError string
}

func newCmdGC(f *Factory, runF func(*gcOptions) error) *cobra.Command {
	opts := &gcOptions{f: f}
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove leaked hosts and cloud resources",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.OnError != "continue" && opts.OnError != "abort" {
				return usageErrorf("--on-error %q: use continue or abort", opts.OnError)
			}
			if runF != nil {
				return runF(opts)
			}
			return runGC(cmd.Context(), opts)
		},
		Long: `Remove leaked hosts and cloud resources of every enabled provider instance,
or of the instances named with --provider. On Azure that is, for the instance's
own resources (tags managed-by=mngr and mngr-provider=NAME) created at least
240 seconds ago: VMs whose provisioning failed, then network interfaces and
public IPs attached to no VM; VMs without any agent 30 minutes after their
creation; and at once what a create left whose mngr process ran on this
machine and has ended (interrupted) before its first agent existed.
On every provider but local, gc also destroys a running host with no agent
once its newest activity (any source, or its creation) is older than
min_online_host_age_seconds of the provider block, else
default_min_online_host_age_seconds (600); a host whose activity it cannot
read is skipped with a warning.
A default instance you never configured (say azure without a login) is
skipped without a word, as mngr list does. destroy runs gc on its own unless
--no-gc.`,
		Example: `  # Show what would be removed, on every provider
  mngr gc --dry-run

  # Remove the leaked resources of one provider instance
  mngr gc --provider azure-west`,
	}
	cmd.Flags().StringArrayVar(&opts.Providers, "provider", nil, "only this provider instance (repeatable)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show what would be removed without removing it")
	cmd.Flags().StringVar(&opts.OnError, "on-error", "continue", "when a provider fails: continue with the others, or abort (collect nothing more); exit 1 either way")
	return cmd
}

// gcResult is gc's JSON result: the items removed (or, with --dry-run, to
// remove) sorted into the reference tool's keys, and what went wrong.
type gcResult struct {
	DryRun                     bool           `json:"dry_run"`
	WorkDirsDestroyed          []core.GCItem  `json:"work_dirs_destroyed"`
	MachinesDestroyed          []core.GCItem  `json:"machines_destroyed"`
	MachinesDeleted            []core.GCItem  `json:"machines_deleted"`
	SnapshotsDestroyed         []core.GCItem  `json:"snapshots_destroyed"`
	VolumesDestroyed           []core.GCItem  `json:"volumes_destroyed"`
	LogsDestroyed              []core.GCItem  `json:"logs_destroyed"`
	BuildCacheDestroyed        []core.GCItem  `json:"build_cache_destroyed"`
	ProviderResourcesDestroyed []core.GCItem  `json:"provider_resources_destroyed"`
	Errors                     []gatherError  `json:"errors"`
	Failures                   []core.Failure `json:"failures"`
	// SkippedHosts are running hosts gc could not judge (unreachable,
	// agents or activity unreadable) and left alone.
	SkippedHosts []skippedHost `json:"skipped_hosts"`
}

// skippedHost is a host gc left alone because it was unsure of it.
type skippedHost struct {
	Name         string      `json:"name"`
	ID           core.HostID `json:"id"`
	ProviderName string      `json:"provider_name"`
	Reason       string      `json:"reason"`
}

func newGCResult(dryRun bool) *gcResult {
	return &gcResult{
		DryRun: dryRun, WorkDirsDestroyed: []core.GCItem{}, MachinesDestroyed: []core.GCItem{}, MachinesDeleted: []core.GCItem{},
		SnapshotsDestroyed: []core.GCItem{}, VolumesDestroyed: []core.GCItem{}, LogsDestroyed: []core.GCItem{},
		BuildCacheDestroyed: []core.GCItem{}, ProviderResourcesDestroyed: []core.GCItem{},
		Errors: []gatherError{}, Failures: []core.Failure{}, SkippedHosts: []skippedHost{},
	}
}

// add files a GC item under the reference's key for its kind.
func (r *gcResult) add(it core.GCItem) {
	switch it.Kind {
	case "work_dir":
		r.WorkDirsDestroyed = append(r.WorkDirsDestroyed, it)
	case "machine", "host", "vm":
		r.MachinesDestroyed = append(r.MachinesDestroyed, it)
	case "snapshot":
		r.SnapshotsDestroyed = append(r.SnapshotsDestroyed, it)
	case "volume":
		r.VolumesDestroyed = append(r.VolumesDestroyed, it)
	case "log":
		r.LogsDestroyed = append(r.LogsDestroyed, it)
	case "build_cache":
		r.BuildCacheDestroyed = append(r.BuildCacheDestroyed, it)
	default:
		r.ProviderResourcesDestroyed = append(r.ProviderResourcesDestroyed, it)
	}
}

// gcEvent is the jsonl line of one GC item.
type gcEvent struct {
	Event string `json:"event"`
	core.GCItem
}

// gcSummaryEvent is the jsonl line that ends every gc: what it found and
// what went wrong.
type gcSummaryEvent struct {
	Event        string         `json:"event"`
	DryRun       bool           `json:"dry_run"`
	Count        int            `json:"count"`
	Errors       []gatherError  `json:"errors"`
	Failures     []core.Failure `json:"failures"`
	FailureCount int            `json:"failure_count"`
	ExitCode     int            `json:"exit_code"`
}

func runGC(ctx context.Context, opts *gcOptions) error {
	f := opts.f
	format := f.Format()
	prog := core.ProgressFrom(ctx)
	names := opts.Providers
	if len(names) == 0 {
		var err error
		if names, err = f.ProviderNames(); err != nil {
			return err
		}
	}
	out := newGCResult(opts.DryRun)
	var all []core.GCItem
	aborted := false
	for i, n := range names {
		if opts.OnError == "abort" && len(out.Errors) > 0 {
			prog.Warn(fmt.Sprintf("gc stopped at the first provider error (--on-error abort): %s and the hosts without agents were not collected", strings.Join(names[i:], ", ")))
			aborted = true
			break
		}
		p, err := f.Provider(ctx, n)
		if err == nil {
			gcer, ok := p.(core.GarbageCollector)
			if !ok {
				continue
			}
			done := prog.Step("collecting garbage on " + n)
			var items []core.GCItem
			items, err = gcer.CollectGarbage(ctx, opts.DryRun)
			done(err)
			for _, it := range items {
				out.add(it)
				all = append(all, it)
				if it.Error != "" {
					out.Failures = append(out.Failures, core.Failure{Category: core.CategoryHostResourceRemains, Message: it.Kind + " " + it.Name + ": " + it.Error})
				}
			}
		}
		if errors.Is(err, core.ErrUnavailable) && len(opts.Providers) == 0 && implicitProvider(f, n) {
			// A default instance nobody configured (azure without any
			// login): skipped silently, as list does.
			continue
		}
		if errors.Is(err, core.ErrUnavailable) && len(opts.Providers) == 0 {
			prog.Warn(fmt.Sprintf("provider %q is not available, skipped: %v", n, err))
			continue
		}
		if err != nil {
			out.Errors = append(out.Errors, newGatherError(err, n))
			out.Failures = append(out.Failures, core.NewFailure(err, "", "", ""))
		}
	}
	if opts.OnError == "abort" && len(out.Errors) > 0 && !aborted {
		prog.Warn("gc stopped at the provider error (--on-error abort): the hosts without agents were not collected")
		aborted = true
	}
	// Running hosts left without agents, once quiet long enough.
	var hostItems []core.GCItem
	var skipped []skippedHost
	if !aborted {
		hostItems, skipped = collectEmptyHosts(ctx, f, opts.Providers, opts.DryRun)
	}
	out.SkippedHosts = append(out.SkippedHosts, skipped...)
	for _, it := range hostItems {
		out.add(it)
		all = append(all, it)
		if it.Error != "" {
			out.Failures = append(out.Failures, core.Failure{Category: core.CategoryHostResourceRemains, Message: it.Kind + " " + it.Name + ": " + it.Error})
		}
	}
	events := make([]any, 0, len(all)+1)
	for _, it := range all {
		events = append(events, gcEvent{Event: "gc_result", GCItem: it})
	}
	// The last line is always there, even when nothing was found.
	events = append(events, gcSummaryEvent{Event: "gc_summary", DryRun: opts.DryRun, Count: len(all),
		Errors: out.Errors, Failures: out.Failures, FailureCount: len(out.Failures), ExitCode: core.WorstFailure(out.Failures).ExitCode()})
	if err := Emit(f.IO, format, func(w io.Writer) error {
		verb := "Removed"
		if opts.DryRun {
			verb = "Would remove"
		}
		for _, it := range all {
			logf(w, "%s %s %s (%s)\n", verb, it.Kind, it.Name, it.Reason)
		}
		for _, e := range out.Errors {
			logf(f.IO.ErrOut, "Error: provider %s: %s\n", e.ProviderName, e.Message)
		}
		_, err := fmt.Fprintf(w, "%d resource(s) %s\n", len(all), map[bool]string{true: "to remove", false: "removed"}[opts.DryRun])
		return err
	}, out, events); err != nil {
		return err
	}
	return failuresExit(out.Failures)
}

// collectEmptyHosts destroys (or, with dryRun, lists) the running hosts of
// non-shared providers that have no agent and have been quiet longer than
// the provider's min_online_host_age_seconds (core.QuietEmptyHost). A host
// it cannot reach, list or read the activity of is skipped with a warning:
// gc never removes what it is unsure of.
func collectEmptyHosts(ctx context.Context, f *Factory, only []string, dryRun bool) ([]core.GCItem, []skippedHost) {
	prog := core.ProgressFrom(ctx)
	cfg, err := f.Config()
	if err != nil {
		prog.Warn(fmt.Sprintf("hosts without agents not collected: %v", err))
		return nil, nil
	}
	refs, err := listHostRefs(ctx, f, only, func(string) {})
	if err != nil {
		prog.Warn(fmt.Sprintf("hosts without agents not collected: %v", err))
		return nil, nil
	}
	// Each host is judged on its own (an SSH round or two), in parallel
	// as list probes hosts; the results keep the listing's order.
	type verdict struct {
		item *core.GCItem
		skip *skippedHost
	}
	verdicts := make([]verdict, len(refs))
	sem := make(chan struct{}, maxParallelHosts)
	var wg sync.WaitGroup
	for i, r := range refs {
		caps := core.CapabilitiesOf(r.Provider)
		if caps.SharedHost || caps.HostIsThisMachine || r.Host.State != core.HostRunning {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			it, why, err := judgeEmptyHost(ctx, r, cfg.MinOnlineHostAge(r.ProviderName))
			if why != "" {
				reason := why + ": " + core.Describe(err)
				prog.Warn(fmt.Sprintf("host %q [%s] skipped: %s", r.Host.Name, r.ProviderName, reason))
				verdicts[i].skip = &skippedHost{Name: r.Host.Name, ID: r.Host.ID, ProviderName: r.ProviderName, Reason: reason}
				return
			}
			if it == nil {
				return
			}
			if !dryRun {
				if err := core.DestroyWholeHost(ctx, r.Provider, r.ProviderName, r.Host, nil); err != nil {
					it.Error = core.Describe(err)
				} else {
					it.Done = true
				}
			}
			verdicts[i].item = it
		}()
	}
	wg.Wait()
	var items []core.GCItem
	var skipped []skippedHost
	for _, v := range verdicts {
		if v.item != nil {
			items = append(items, *v.item)
		}
		if v.skip != nil {
			skipped = append(skipped, *v.skip)
		}
	}
	return items, skipped
}

// judgeEmptyHost says whether gc takes the running host r: an item when it
// has no agent and has been quiet for minAge, nil to keep it, or why (and
// the error) when gc cannot tell and skips it.
func judgeEmptyHost(ctx context.Context, r hostRef, minAge time.Duration) (*core.GCItem, string, error) {
	h, err := r.Provider.ConnectHost(ctx, r.Host.ID)
	if errors.Is(err, core.ErrHostOffline) {
		return nil, "", nil // stopped since it was listed: nothing runs
	}
	if err != nil {
		return nil, "not reachable", err
	}
	agents, err := core.ListAgentsWithin(ctx, h, hostListTimeout)
	if err != nil {
		return nil, "its agents could not be listed", err
	}
	if len(agents) > 0 {
		return nil, "", nil
	}
	act, err := core.ReadHostActivity(ctx, h)
	if err != nil {
		return nil, "its activity could not be read", err
	}
	reason := core.QuietEmptyHost(act, r.Host.CreatedAt, time.Now(), minAge)
	if reason == "" {
		return nil, "", nil
	}
	return &core.GCItem{Kind: "host", Name: r.Host.Name, ID: string(r.Host.ID), Reason: reason}, "", nil
}
