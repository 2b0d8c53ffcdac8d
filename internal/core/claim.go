package core

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Exit codes of scripts/claim_name.sh.
const (
	exitNameTaken = 17
	exitLockBusy  = 9
)

// claimFresh is how long a claim whose agent has no record yet holds its
// name: the create that made it may still be transferring the project.
// Older, it was left by a create that was killed, and is taken over.
const claimFresh = 2 * time.Hour

// ClaimAgentName checks name on h (no agent and no tmux session has it)
// and claims it for agent id, under the host's name lock: of several
// creates of one name at once exactly one gets it, the others get
// ErrConflict before they make anything. The claim lasts while the agent
// exists; ReleaseAgentName (a failed create) and DestroyAgent end it.
func ClaimAgentName(ctx context.Context, h *Host, prefix, name string, id AgentID) error {
	if err := ValidateName("agent", name); err != nil {
		return err
	}
	if err := CheckAgentName(ctx, h, prefix, name); err != nil {
		return err
	}
	script := ScriptCall(claimNameSh, h.HostDir, name, string(id), strconv.Itoa(int(claimFresh.Seconds())))
	res, err := h.run(ctx, "claim agent name "+strconv.Quote(name), script)
	if err != nil {
		return err
	}
	switch res.ExitCode {
	case 0:
		return nil
	case exitNameTaken:
		holder := strings.TrimSpace(res.Stdout)
		return WithHint(fmt.Errorf("agent %q already exists on host %q (agent %s, or a create of it still running): %w", name, h.Name, holder, ErrConflict),
			"pick another name; if no create of %s is running, remove the stale claim: rm %s", name, path.Join(h.HostDir, "names", name))
	case exitLockBusy:
		return WithHint(fmt.Errorf("claim agent name %q on host %q: the host's name lock stayed busy for 30 s: %w", name, h.Name, ErrTimeout),
			"run the command again")
	}
	return fmt.Errorf("claim agent name %q on host %q failed (exit %d): %s", name, h.Name, res.ExitCode, strings.TrimSpace(res.Stderr))
}

// ReleaseAgentName ends agent id's claim on name (when it still holds it).
func ReleaseAgentName(ctx context.Context, h *Host, name string, id AgentID) error {
	_, err := h.mustRun(ctx, "release agent name "+strconv.Quote(name),
		ScriptCall(claimNameSh, h.HostDir, name, string(id), "0", "release"))
	return err
}

// releaseNameScript is the shell line DestroyAgent runs to end rec's claim
// on its name (no lock needed: a claim held by a live record is never
// taken over, and only this agent's id is removed).
func releaseNameScript(h *Host, rec AgentRecord) string {
	f := ShellQuote(path.Join(h.HostDir, "names", rec.Name))
	return fmt.Sprintf("if [ \"$(cat %s 2>/dev/null)\" = %s ]; then rm -f %s; fi", f, ShellQuote(string(rec.ID)), f)
}
