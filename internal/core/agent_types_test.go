package core

import (
	"errors"
	"strings"
	"testing"
)

func TestResolveAgentCommand(t *testing.T) {
	types := map[string]AgentTypeConfig{
		"claude": {Command: "claude", CLIArgs: []string{"--model", "opus 4"}},
		"aider":  {Command: "aider --yes"},
	}
	tests := []struct {
		name     string
		typ      string
		override string
		args     []string
		types    map[string]AgentTypeConfig
		want     string
		wantErr  error
	}{
		{"command from args", "command", "", []string{"sleep", "99"}, nil, "sleep 99", nil},
		{"command args quoted", "command", "", []string{"echo", "a b", "it's"}, nil, `echo 'a b' 'it'\''s'`, nil},
		{"command override", "command", "sleep 600", nil, nil, "sleep 600", nil},
		{"override then args", "command", "python3 -m http.server", []string{"8080"}, nil, "python3 -m http.server 8080", nil},
		{"command needs something", "command", "", nil, nil, "", ErrInvalidInput},
		{"claude builtin", "claude", "", nil, nil, "claude", nil},
		{"claude with args", "claude", "", []string{"-p", "hi there"}, nil, "claude -p 'hi there'", nil},
		{"codex builtin", "codex", "", nil, nil, "codex", nil},
		{"configured cli_args", "claude", "", []string{"x"}, types, "claude --model 'opus 4' x", nil},
		{"configured type", "aider", "", nil, types, "aider --yes", nil},
		{"unknown type", "gemini", "", nil, types, "", ErrInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveAgentCommand(tt.typ, tt.override, tt.args, tt.types)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil && HintOf(err) == "" {
				t.Errorf("error %v has no hint", err)
			}
			if got != tt.want {
				t.Errorf("command = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUnknownTypeNamesKnownTypes(t *testing.T) {
	_, err := ResolveAgentCommand("nope", "", nil, map[string]AgentTypeConfig{"mine": {Command: "x"}})
	msg := err.Error() + " " + HintOf(err)
	for _, n := range []string{"nope", "claude", "codex", "command", "mine"} {
		if !strings.Contains(msg, n) {
			t.Errorf("error %q does not name %q", msg, n)
		}
	}
}

func TestBuiltinTypes(t *testing.T) {
	for typ, want := range map[string]bool{"command": true, "claude": true, "codex": true, "aider": false, "": false} {
		if got := IsBuiltinAgentType(typ); got != want {
			t.Errorf("IsBuiltinAgentType(%q) = %v, want %v", typ, got, want)
		}
	}
	for typ, want := range map[string]string{"command": "", "claude": "claude", "codex": "codex", "mine": ""} {
		if got := requiredCLI(typ); got != want {
			t.Errorf("requiredCLI(%q) = %q, want %q", typ, got, want)
		}
	}
}
