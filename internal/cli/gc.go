package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

type gcOptions struct {
	f *Factory

	Providers []string
	DryRun    bool
}

func newCmdGC(f *Factory, runF func(*gcOptions) error) *cobra.Command {
	opts := &gcOptions{f: f}
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove leaked hosts and cloud resources",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runGC(cmd.Context(), opts)
		},
		Long: `Remove leaked hosts and cloud resources of every enabled provider instance,
or of the instances named with --provider. On Azure that is, for the instance's
own resources (tags managed-by=mngr and mngr-provider=NAME) created at least
240 seconds ago: VMs whose provisioning failed, then network interfaces and
public IPs attached to no VM. destroy runs gc on its own unless --no-gc.`,
		Example: `  # Show what would be removed, on every provider
  mngr gc --dry-run

  # Remove the leaked resources of one provider instance
  mngr gc --provider azure-west`,
	}
	cmd.Flags().StringArrayVar(&opts.Providers, "provider", nil, "only this provider instance (repeatable)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show what would be removed without removing it")
	return cmd
}

// gcKeyForKind sorts a GC item into the reference's result keys.
func gcKeyForKind(kind string) string {
	switch kind {
	case "work_dir":
		return "work_dirs_destroyed"
	case "machine", "host", "vm":
		return "machines_destroyed"
	case "snapshot":
		return "snapshots_destroyed"
	case "volume":
		return "volumes_destroyed"
	case "log":
		return "logs_destroyed"
	case "build_cache":
		return "build_cache_destroyed"
	default:
		return "provider_resources_destroyed"
	}
}

func runGC(ctx context.Context, opts *gcOptions) error {
	f := opts.f
	format := f.Format()
	prog := NewProgress(f.IO, format, f.Quiet())
	ctx = core.WithProgress(ctx, prog)
	names := opts.Providers
	if len(names) == 0 {
		var err error
		if names, err = f.ProviderNames(); err != nil {
			return err
		}
	}
	out := map[string]any{"dry_run": opts.DryRun}
	for _, k := range []string{"work_dirs_destroyed", "machines_destroyed", "machines_deleted", "snapshots_destroyed",
		"volumes_destroyed", "logs_destroyed", "build_cache_destroyed", "provider_resources_destroyed"} {
		out[k] = []core.GCItem{}
	}
	errs := []gatherError{}
	failures := []failure{}
	var all []core.GCItem
	for _, n := range names {
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
				k := gcKeyForKind(it.Kind)
				out[k] = append(out[k].([]core.GCItem), it)
				all = append(all, it)
				if it.Error != "" {
					failures = append(failures, failure{Category: "HOST_RESOURCE_REMAINS", Message: it.Kind + " " + it.Name + ": " + it.Error, code: core.FailureHostResourceRemains})
				}
			}
		}
		if errors.Is(err, core.ErrUnavailable) && len(opts.Providers) == 0 {
			prog.Warn(fmt.Sprintf("provider %q is not available, skipped: %v", n, err))
			continue
		}
		if err != nil {
			errs = append(errs, newGatherError(err, n))
			fl := newFailure(err, "", "", "")
			failures = append(failures, fl)
		}
	}
	out["errors"], out["failures"] = errs, failures
	events := make([]any, 0, len(all))
	for _, it := range all {
		events = append(events, map[string]any{"event": "gc_result", "kind": it.Kind, "name": it.Name, "id": it.ID, "reason": it.Reason, "done": it.Done, "error": it.Error})
	}
	if err := Emit(f.IO, format, func(w io.Writer) error {
		verb := "Removed"
		if opts.DryRun {
			verb = "Would remove"
		}
		for _, it := range all {
			logf(w, "%s %s %s (%s)\n", verb, it.Kind, it.Name, it.Reason)
		}
		for _, e := range errs {
			logf(f.IO.ErrOut, "Error: provider %s: %s\n", e.ProviderName, e.Message)
		}
		_, err := fmt.Fprintf(w, "%d resource(s) %s\n", len(all), map[bool]string{true: "to remove", false: "removed"}[opts.DryRun])
		return err
	}, out, events); err != nil {
		return err
	}
	if code := failureExitCode(failures); code != 0 {
		return &exitError{code: ExitCode(code), err: fmt.Errorf("%d failure(s)", len(failures)), printed: true}
	}
	return nil
}
