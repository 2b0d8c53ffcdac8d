package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

type labelOptions struct {
	f *Factory

	Agents []string
	Set    []string
	Remove []string
}

func newCmdLabel(f *Factory, runF func(*labelOptions) error) *cobra.Command {
	opts := &labelOptions{f: f}
	cmd := &cobra.Command{
		Use:   "label AGENT...|- (-l K=V... | --remove K...)",
		Short: "Set or remove labels of agents",
		Long: `Set (-l K=V, repeatable) or remove (--remove K, repeatable) labels in each
agent's record on its host. mngr list shows them (labels.K, the PROJECT
column for "project") and filters on them (--label K=V, --include).

An agent whose host is offline is labelled too where the provider keeps the
agents' records beside its hosts: on Azure the VM's tags are updated with
one tag call, which does not start a deallocated VM. The host's own record
gets the change at the next mngr start (the labels written while the host
was offline win over the host's record).

A key is 1-128 characters without < > % & \ ? / or spaces, a value at most
256 characters (Azure's tag rules). '-' reads agent names or ids from
stdin, one per line.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeAgentNames(f, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.Agents, err = namesFromArgs(cmd, args); err != nil {
				return err
			}
			if len(opts.Set) == 0 && len(opts.Remove) == 0 {
				return usageErrorf("label needs -l K=V or --remove K, for example: mngr label my-agent -l team=infra")
			}
			if runF != nil {
				return runF(opts)
			}
			return runLabel(cmd.Context(), opts)
		},
		Example: `  # Label two agents
  mngr label agent-a agent-b -l team=infra -l priority=high

  # Remove a label from every agent of team x (names on stdin):
  # mngr list --ids --label team=x | mngr label - --remove priority
  mngr label - --remove priority`,
	}
	cmd.Flags().StringArrayVarP(&opts.Set, "label", "l", nil, "set label K=V (repeatable)")
	cmd.Flags().StringArrayVar(&opts.Remove, "remove", nil, "remove label K (repeatable)")
	return cmd
}

// labelOutput is label's JSON result.
type labelOutput struct {
	Labelled []core.LabelResult `json:"labelled_agents"`
	reportSummary
}

// parseLabelEdit checks -l and --remove.
func parseLabelEdit(setFlags, removeFlags []string) (map[string]string, []string, error) {
	set, err := parseKV(setFlags, "--label")
	if err != nil {
		return nil, nil, err
	}
	if err := core.ValidateLabels(set); err != nil {
		return nil, nil, err
	}
	for _, k := range removeFlags {
		if err := core.ValidateLabel(k, ""); err != nil {
			return nil, nil, fmt.Errorf("--remove: %w", err)
		}
		if _, both := set[k]; both {
			return nil, nil, core.WithHint(fmt.Errorf("label %q is both set and removed: %w", k, core.ErrInvalidInput), "give it once")
		}
	}
	return set, removeFlags, nil
}

func runLabel(ctx context.Context, opts *labelOptions) error {
	f := opts.f
	set, remove, err := parseLabelEdit(opts.Set, opts.Remove)
	if err != nil {
		return err
	}
	refs, err := resolveAgents(ctx, f, opts.Agents)
	if err != nil {
		return err
	}
	rep, results := core.LabelAgents(ctx, refs, set, remove)
	if err := Emit(f.IO, f.Format(), func(w io.Writer) error {
		for _, r := range results {
			note := ""
			if r.Offline {
				note = " (host offline: written beside it, applied at its next start)"
			}
			logf(w, "Labelled agent %s: %s%s\n", core.Printable(r.Agent), core.Printable(labelText(r.Labels)), note)
		}
		writeFailures(f.IO.ErrOut, rep.Failures)
		return nil
	}, labelOutput{Labelled: results, reportSummary: summarize(&rep)}, resultEvents("label_result", &rep)); err != nil {
		return err
	}
	return failuresExit(rep.Failures)
}

// labelText renders labels as k=v,… in key order ("no labels" when none).
func labelText(m map[string]string) string {
	if len(m) == 0 {
		return "no labels"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}
