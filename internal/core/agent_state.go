package core

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Markers that split the one-shot listing output into its parts.
const (
	markRecord = "@@MNGR_RECORD"
	markPanes  = "@@MNGR_PANES"
	markPS     = "@@MNGR_PS"
	// markNoTmux is the listing's line for a host without tmux.
	markNoTmux = "@@MNGR_NO_TMUX"
)

// listScript (scripts/list_agents.sh) prints every agent record with its
// active flag and start time, then all tmux panes, then the process table:
// everything ListAgents needs, in one command on the host.
//
// With panesAlways false, a host without any agent record skips tmux and
// ps: nothing would use their tables, and sparing two processes is most of
// what `mngr list` costs on an empty machine.
func listScript(h *Host, panesAlways bool) string {
	return ScriptCall(listAgentsSh, path.Join(h.HostDir, "agents"), flag(panesAlways))
}

// listedRecord is one record of the listing with its host-side facts.
type listedRecord struct {
	rec    AgentRecord
	active bool
	start  *time.Time
	// last is the newest activity (agent's or host's), nil when none.
	last *time.Time
}

// agentListing is the parsed output of listScript.
type agentListing struct {
	records  []listedRecord
	panes    map[string]paneInfo // window 0 of each session, by session name
	procs    []procInfo
	warnings []string
}

type paneInfo struct {
	dead    bool
	pid     int
	command string
}

type procInfo struct {
	pid, ppid int
	comm      string
}

// parseListing parses listScript output. Unreadable records become warnings,
// so one bad file does not hide the other agents.
func parseListing(out string) agentListing {
	l := agentListing{panes: map[string]paneInfo{}}
	recPart, rest, _ := strings.Cut(out, markPanes+"\n")
	panePart, psPart, _ := strings.Cut(rest, markPS+"\n")
	for _, chunk := range strings.Split(recPart, markRecord+" ")[1:] {
		header, body, _ := strings.Cut(chunk, "\n")
		f := strings.Fields(header)
		if len(f) < 2 || len(f) > 3 {
			l.warnings = append(l.warnings, fmt.Sprintf("malformed agent listing line %q", header))
			continue
		}
		var r AgentRecord
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			l.warnings = append(l.warnings, fmt.Sprintf("skipping an unreadable agent data.json: %v", err))
			continue
		}
		if _, err := ParseAgentID(string(r.ID)); err != nil {
			l.warnings = append(l.warnings, fmt.Sprintf("skipping an agent data.json: %v", err))
			continue
		}
		lr := listedRecord{rec: r, active: f[0] == "1"}
		if secs, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			t := time.Unix(secs, 0).UTC()
			lr.start = &t
		}
		if len(f) == 3 {
			if secs, err := strconv.ParseInt(f[2], 10, 64); err == nil {
				t := time.Unix(secs, 0).UTC()
				lr.last = &t
			}
		}
		l.records = append(l.records, lr)
	}
	for _, line := range strings.Split(panePart, "\n") {
		if line == markNoTmux && len(l.records) > 0 {
			l.warnings = append(l.warnings, "tmux is not installed, so no agent there can be seen running: they show as STOPPED (install tmux: apt-get install tmux)")
		}
		f := strings.SplitN(line, "|", 5)
		if len(f) != 5 || f[2] != "0" {
			continue
		}
		pid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		if _, seen := l.panes[f[3]]; seen {
			continue // the first pane of window 0 is the agent's
		}
		l.panes[f[3]] = paneInfo{dead: f[0] == "1", pid: pid, command: f[4]}
	}
	for _, line := range strings.Split(psPart, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		ppid, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			continue
		}
		l.procs = append(l.procs, procInfo{pid: pid, ppid: ppid, comm: strings.Join(f[2:], " ")})
	}
	sort.SliceStable(l.records, func(i, j int) bool {
		a, b := l.records[i].rec, l.records[j].rec
		if !a.CreateTime.Equal(b.CreateTime) {
			return a.CreateTime.Before(b.CreateTime)
		}
		return a.Name < b.Name
	})
	return l
}

// shellNames are processes that count as "only a shell" in a pane.
var shellNames = map[string]bool{
	"sh": true, "bash": true, "dash": true, "zsh": true, "fish": true, "ksh": true,
	"mksh": true, "tcsh": true, "csh": true, "ash": true, "busybox": true, "login": true,
}

func isShell(comm string) bool {
	return shellNames[strings.TrimPrefix(comm, "-")]
}

// commMax is how much of a process name the kernel keeps (TASK_COMM_LEN - 1).
const commMax = 15

// sameProcess compares a process name as ps or tmux shows it with the
// expected name, allowing for the kernel's truncation.
func sameProcess(shown, want string) bool {
	if want == "" {
		return false
	}
	if shown == want {
		return true
	}
	return len(want) > commMax && shown == want[:commMax]
}

// expectedProcess is the process name whose presence means the agent runs:
// claude for the claude type, else the basename of the command's first word.
func expectedProcess(agentType, command string) string {
	if agentType == "claude" {
		return "claude"
	}
	f := strings.Fields(command)
	if len(f) == 0 {
		return ""
	}
	w := strings.Trim(f[0], `'"`)
	return path.Base(w)
}

// computeState derives an agent's state from window 0's first pane and the
// process tree, as the reference does:
//   - no pane: STOPPED; a dead pane: DONE;
//   - the expected process is the pane command or a descendant: RUNNING if
//     the agent marked itself active, else WAITING;
//   - another non-shell process: REPLACED (RUNNING_UNKNOWN_AGENT_TYPE for a
//     type mngr does not know);
//   - only shells: DONE.
func computeState(rec AgentRecord, active bool, pane *paneInfo, procs []procInfo) AgentState {
	if pane == nil {
		return AgentStopped
	}
	if pane.dead {
		return AgentDone
	}
	want := expectedProcess(rec.Type, rec.Command)
	found := sameProcess(pane.command, want)
	other := pane.command != "" && !found && !isShell(pane.command)
	for _, d := range descendants(pane.pid, procs) {
		switch {
		case sameProcess(d.comm, want):
			found = true
		case !isShell(d.comm):
			other = true
		}
	}
	switch {
	case found && active:
		return AgentRunning
	case found:
		return AgentWaiting
	case other && !IsBuiltinAgentType(rec.Type):
		return AgentRunningUnknownAgentType
	case other:
		return AgentReplaced
	default:
		return AgentDone
	}
}

// descendants returns the processes below pid, breadth first; a pid seen
// twice (a corrupt table) is not walked again.
func descendants(pid int, procs []procInfo) []procInfo {
	children := map[int][]procInfo{}
	for _, p := range procs {
		if p.pid != p.ppid {
			children[p.ppid] = append(children[p.ppid], p)
		}
	}
	seen := map[int]bool{pid: true}
	var out []procInfo
	queue := []int{pid}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, c := range children[next] {
			if seen[c.pid] {
				continue
			}
			seen[c.pid] = true
			out = append(out, c)
			queue = append(queue, c.pid)
		}
	}
	return out
}

// statuses turns a listing into agent statuses for host id.
func (l agentListing) statuses(prefix string, id HostID) []AgentStatus {
	out := make([]AgentStatus, 0, len(l.records))
	for _, r := range l.records {
		var pane *paneInfo
		if p, ok := l.panes[SessionName(prefix, r.rec.Name)]; ok {
			pane = &p
		}
		out = append(out, AgentStatus{
			Record:       r.rec,
			State:        computeState(r.rec, r.active, pane, l.procs),
			StartTime:    r.start,
			LastActivity: r.last,
			HostID:       id,
		})
	}
	return out
}

func (h *Host) listing(ctx context.Context, panesAlways bool) (agentListing, error) {
	if !panesAlways && noLocalAgents(h) {
		return agentListing{}, nil
	}
	res, err := h.mustRun(ctx, "list agents", listScript(h, panesAlways))
	if err != nil {
		return agentListing{}, err
	}
	l := parseListing(res.Stdout)
	for _, w := range l.warnings {
		ProgressFrom(ctx).Warn(fmt.Sprintf("host %s: %s", h.Name, w))
	}
	return l, nil
}

// ListAgents reads every agent record on the host and computes its state,
// in one command on the host.
func ListAgents(ctx context.Context, h *Host, prefix string) ([]AgentStatus, error) {
	l, err := h.listing(ctx, false)
	if err != nil {
		return nil, err
	}
	return l.statuses(prefix, h.ID), nil
}
