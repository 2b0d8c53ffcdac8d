package core

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// canned builds listScript-shaped output from records, pane lines and ps lines.
func canned(records []string, panes, ps string) string {
	var b strings.Builder
	for _, r := range records {
		b.WriteString(r)
		b.WriteString("\n")
	}
	b.WriteString(markPanes + "\n" + panes + markPS + "\n" + ps)
	return b.String()
}

const (
	idA = "agent-0123456789abcdef0123456789abcdef"
	idB = "agent-fedcba9876543210fedcba9876543210"
)

func TestParseListing(t *testing.T) {
	out := canned([]string{
		markRecord + " 1 1767225600\n" + `{"id":"` + idB + `","name":"b","type":"command","command":"sleep 1","create_time":"2026-01-02T00:00:00Z"}`,
		markRecord + " 0 -\n" + `{"id":"` + idA + `","name":"a","type":"claude","command":"claude","create_time":"2026-01-01T00:00:00Z"}`,
		markRecord + " 0 -\n{not json",
		markRecord + " 0 -\n" + `{"id":"bogus","name":"c"}`,
	},
		"0|100|0|mngr-a|bash\n0|150|1|mngr-a|vim\n1|200|0|mngr-b|sleep\n0|300|0|other|bash\n0|301|0|mngr-a|sh\n",
		"  100     1 bash\n  101   100 claude\n 3 2\n")
	l := parseListing(out)
	var names []string
	for _, r := range l.records {
		names = append(names, r.rec.Name)
	}
	if d := cmp.Diff([]string{"a", "b"}, names); d != "" {
		t.Errorf("records sorted by create time (-want +got)\n%s", d)
	}
	if !l.records[1].active || l.records[0].active {
		t.Errorf("active flags: a=%v b=%v, want false true", l.records[0].active, l.records[1].active)
	}
	want := time.Unix(1767225600, 0).UTC()
	if l.records[0].start != nil || l.records[1].start == nil || !l.records[1].start.Equal(want) {
		t.Errorf("start times: a=%v b=%v, want nil %v", l.records[0].start, l.records[1].start, want)
	}
	if len(l.warnings) != 2 {
		t.Errorf("warnings %q, want two (bad json, bad id)", l.warnings)
	}
	wantPanes := map[string]paneInfo{
		"mngr-a": {pid: 100, command: "bash"},
		"mngr-b": {dead: true, pid: 200, command: "sleep"},
		"other":  {pid: 300, command: "bash"},
	}
	if d := cmp.Diff(wantPanes, l.panes, cmp.AllowUnexported(paneInfo{})); d != "" {
		t.Errorf("panes of window 0 (-want +got)\n%s", d)
	}
	wantProcs := []procInfo{{pid: 100, ppid: 1, comm: "bash"}, {pid: 101, ppid: 100, comm: "claude"}}
	if d := cmp.Diff(wantProcs, l.procs, cmp.AllowUnexported(procInfo{})); d != "" {
		t.Errorf("procs (-want +got)\n%s", d)
	}
	sts := l.statuses("mngr-", "host-x")
	got := map[string]AgentState{}
	for _, s := range sts {
		got[s.Record.Name] = s.State
		if s.HostID != "host-x" {
			t.Errorf("host id %q", s.HostID)
		}
	}
	if d := cmp.Diff(map[string]AgentState{"a": AgentWaiting, "b": AgentDone}, got); d != "" {
		t.Errorf("states (-want +got)\n%s", d)
	}
}

func TestParseListingEmpty(t *testing.T) {
	for _, out := range []string{"", canned(nil, "", ""), "garbage\n"} {
		l := parseListing(out)
		if len(l.records) != 0 || len(l.panes) != 0 || len(l.procs) != 0 {
			t.Errorf("parseListing(%q) = %+v, want empty", out, l)
		}
	}
}

func TestComputeState(t *testing.T) {
	sleepRec := AgentRecord{Type: "command", Command: "sleep 600"}
	// The pane shell is 10; ps shows what runs below it.
	shellPane := &paneInfo{pid: 10, command: "bash"}
	tests := []struct {
		name   string
		rec    AgentRecord
		active bool
		pane   *paneInfo
		ps     string
		want   AgentState
	}{
		{"no pane", sleepRec, false, nil, "", AgentStopped},
		{"dead pane", sleepRec, false, &paneInfo{dead: true, pid: 10, command: "sleep"}, "", AgentDone},
		{"command running, not active", sleepRec, false, &paneInfo{pid: 10, command: "sleep"}, "10 1 bash\n11 10 sleep\n", AgentWaiting},
		{"command running, active", sleepRec, true, &paneInfo{pid: 10, command: "sleep"}, "10 1 bash\n11 10 sleep\n", AgentRunning},
		{"command deep below", sleepRec, false, shellPane, "10 1 bash\n11 10 sh\n12 11 sleep\n", AgentWaiting},
		{"only a shell", sleepRec, false, shellPane, "10 1 bash\n", AgentDone},
		{"only nested shells", sleepRec, false, shellPane, "10 1 bash\n11 10 zsh\n12 11 -bash\n", AgentDone},
		{"other process", sleepRec, false, &paneInfo{pid: 10, command: "vim"}, "10 1 bash\n11 10 vim\n", AgentReplaced},
		{"exec replaced the shell", sleepRec, false, &paneInfo{pid: 10, command: "vim"}, "10 1 vim\n", AgentReplaced},
		{"unknown type replaced", AgentRecord{Type: "mine", Command: "sleep 1"}, false, shellPane, "10 1 bash\n11 10 top\n", AgentRunningUnknownAgentType},
		{"claude type", AgentRecord{Type: "claude", Command: "cd x && claude --resume"}, false, shellPane, "10 1 bash\n11 10 claude\n", AgentWaiting},
		{"path and quotes in command", AgentRecord{Type: "command", Command: "'/usr/bin/sleep' 9"}, false, shellPane, "10 1 bash\n11 10 sleep\n", AgentWaiting},
		{"truncated comm", AgentRecord{Type: "command", Command: "a-very-long-program-name --x"}, false, shellPane, "10 1 bash\n11 10 a-very-long-pro\n", AgentWaiting},
		{"unrelated processes ignored", sleepRec, false, shellPane, "10 1 bash\n20 1 sleep\n21 20 vim\n", AgentDone},
		{"ps cycle is bounded", sleepRec, false, shellPane, "10 11 bash\n11 10 sh\n", AgentDone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			procs := parseListing(canned(nil, "", tt.ps)).procs
			if got := computeState(tt.rec, tt.active, tt.pane, procs); got != tt.want {
				t.Errorf("state = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestExpectedProcess(t *testing.T) {
	tests := []struct{ typ, cmd, want string }{
		{"command", "sleep 600", "sleep"},
		{"command", "/bin/sleep 1", "sleep"},
		{"claude", "anything", "claude"},
		{"codex", "codex --full-auto", "codex"},
		{"command", "", ""},
	}
	for _, tt := range tests {
		if got := expectedProcess(tt.typ, tt.cmd); got != tt.want {
			t.Errorf("expectedProcess(%q, %q) = %q, want %q", tt.typ, tt.cmd, got, tt.want)
		}
	}
}
