package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

func TestExitCodesAndErrorLines(t *testing.T) {
	tests := []struct {
		args       []string
		wantCode   ExitCode
		wantStderr string
	}{
		{[]string{"list", "--bogus"}, ExitUsage, "Error: unknown flag: --bogus\n  run 'mngr --help'"},
		{[]string{"list", "--format", "yaml"}, ExitUsage, `Error: invalid --format "yaml"`},
		{[]string{"exec", "bad name!", "ls"}, ExitUsage, `Error: invalid agent name "bad name!"`},
		{[]string{"list", "-S", "noequals"}, ExitUsage, `Error: invalid setting "noequals"`},
		{[]string{"stop", "ghost"}, ExitError, "Error: no agent named \"ghost\"\n"},
		{[]string{"create", "", "--type", "command", "--no-connect", "--", "true"}, ExitUsage, "Error: the agent name is empty\n"},
		{[]string{"create", "--name", "", "--type", "command", "--no-connect", "--", "true"}, ExitUsage, "Error: the agent name is empty\n"},
		{[]string{"create", strings.Repeat("n", 64), "--type", "command", "--no-connect", "--", "true"}, ExitUsage, "Error: agent name \"nnnnnnnnnnnnnnnnnnnn\"… is 64 characters long, more than 63\n"},
		// destroy's data-deleting flag has a long name only (-b is create's --build-arg).
		{[]string{"destroy", "-b", "ghost"}, ExitUsage, "Error: unknown shorthand flag: 'b' in -b\n"},
		{[]string{"nosuch"}, ExitUsage, "Error: unknown command \"nosuch\"\n"},
		{[]string{"message", "ghost", "-m", "  "}, ExitUsage, "Error: the message is empty\n"},
		{[]string{"create", "x", "--type", "command", "--source", "/nonexistent/src", "--no-connect", "--", "true"}, ExitUsage, "Error: source directory /nonexistent/src does not exist\n"},
	}
	for _, tt := range tests {
		te := newTestEnv(t)
		if code := te.run(tt.args...); code != tt.wantCode {
			t.Errorf("%v: exit %d, want %d", tt.args, code, tt.wantCode)
		}
		if !strings.HasPrefix(te.errOut.String(), tt.wantStderr) {
			t.Errorf("%v: stderr %q, want prefix %q", tt.args, te.errOut, tt.wantStderr)
		}
		if lines := strings.Count(te.errOut.String(), "\n"); lines > 2 {
			t.Errorf("%v: %d stderr lines, want the error and a hint", tt.args, lines)
		}
	}
}

func TestJSONLErrorEvent(t *testing.T) {
	te := newTestEnv(t)
	te.run("stop", "ghost", "--format", "jsonl")
	if got := te.out.String(); got != `{"error":"no agent named \"ghost\"","error_class":"NotFoundError","event":"error","exit_code":1,"hint":"run 'mngr list' to see the agents and their names"}`+"\n" {
		t.Errorf("stdout = %q", got)
	}
}

// A command that fails as a whole reports the failure in its json too, not
// only on stderr.
func TestJSONErrorResult(t *testing.T) {
	te := newTestEnv(t)
	if code := te.run("exec", "ghost", "--format", "json", "--", "true"); code != ExitError {
		t.Errorf("exit %d, want %d", code, ExitError)
	}
	if got := te.out.String(); got != `{"error":"no agent named \"ghost\"","error_class":"NotFoundError","exit_code":1,"hint":"run 'mngr list' to see the agents and their names"}`+"\n" {
		t.Errorf("stdout = %q", got)
	}
}

func TestBareMngrPrintsHelpAndGroupsAttach(t *testing.T) {
	te := newTestEnv(t)
	te.reset()
	group := func(*Factory) *cobra.Command {
		return &cobra.Command{Use: "fakecloud", Short: "Fake cloud commands", RunE: func(*cobra.Command, []string) error {
			return core.WithHint(errors.New("prepare failed"), "try again")
		}}
	}
	if code := Run(t.Context(), te.f, nil, group); code != 0 {
		t.Fatalf("bare mngr exit %d", code)
	}
	if !strings.Contains(te.out.String(), "Usage:") || !strings.Contains(te.out.String(), "fakecloud") {
		t.Errorf("help = %q", te.out)
	}
	te.reset()
	if code := Run(t.Context(), te.f, []string{"fakecloud"}, group); code != 1 || te.errOut.String() != "Error: prepare failed\n  try again\n" {
		t.Errorf("group: code %d stderr %q", code, te.errOut)
	}
	te.reset()
	if code := Run(t.Context(), te.f, []string{"--version"}); code != 0 || !strings.HasPrefix(te.out.String(), "mngr ") {
		t.Errorf("version: %d %q", code, te.out)
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in      string
		want    address
		wantErr bool
	}{
		{in: "a", want: address{Name: "a"}},
		{in: "a@h", want: address{Name: "a", Host: "h"}},
		{in: "a@h.azure", want: address{Name: "a", Host: "h", Provider: "azure"}},
		{in: "a@.azure", want: address{Name: "a", Provider: "azure"}},
		{in: "a@", wantErr: true},
		{in: "-a", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseAddress(tt.in, false)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("parseAddress(%q) = %+v, %v", tt.in, got, err)
		}
	}
}
