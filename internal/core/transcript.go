package core

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Transcript roles.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// TranscriptEntry is one turn of an agent CLI's own session record: what
// the user said, what the model answered, or a tool call or its result.
type TranscriptEntry struct {
	Time time.Time `json:"time,omitzero"`
	Role string    `json:"role"`
	// Tool names the tool of a call or result (Role tool).
	Tool string `json:"tool,omitempty"`
	Text string `json:"text"`
}

// HasTranscript says whether mngr can read the agent type's own session
// record (claude's session file, codex's rollout files).
func HasTranscript(agentType string) bool { return agentType == "claude" || agentType == "codex" }

// transcriptScript prints the agent's session record lines holding needle
// (all lines when needle is empty), with its env files loaded.
func transcriptScript(h *Host, rec AgentRecord, needle string) string {
	return envPrefix(h, rec.ID) + "\n" + ScriptCall(transcriptSh, rec.Type, ClaudeSessionID(rec.ID), needle)
}

// ReadTranscript returns the turns of the agent's own session record, oldest
// first. Agent types without one are an ErrNotSupported.
func ReadTranscript(ctx context.Context, h *Host, rec AgentRecord) ([]TranscriptEntry, error) {
	return readTranscript(ctx, h, rec, "")
}

func readTranscript(ctx context.Context, h *Host, rec AgentRecord, needle string) ([]TranscriptEntry, error) {
	if !HasTranscript(rec.Type) {
		return nil, WithHint(fmt.Errorf("agent %q is of type %q, which keeps no transcript mngr can read: %w", rec.Name, rec.Type, ErrNotSupported),
			"see its screen instead: mngr capture %s", rec.Name)
	}
	res, err := h.mustRun(ctx, "read the transcript of agent "+strconv.Quote(rec.Name), transcriptScript(h, rec, needle))
	if err != nil {
		return nil, err
	}
	return parseTranscript(rec.Type, res.Stdout), nil
}

// parseTranscript turns session record lines into entries; lines it does
// not know (metadata, snapshots) are skipped.
func parseTranscript(agentType, out string) []TranscriptEntry {
	var entries []TranscriptEntry
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		switch agentType {
		case "claude":
			entries = append(entries, claudeEntries(line)...)
		case "codex":
			entries = append(entries, codexEntries(line)...)
		}
	}
	return entries
}

// claudeEntries reads one line of claude's session file.
func claudeEntries(line string) []TranscriptEntry {
	var l struct {
		Type      string    `json:"type"`
		IsMeta    bool      `json:"isMeta"`
		Timestamp time.Time `json:"timestamp"`
		Message   struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"message"`
	}
	if json.Unmarshal([]byte(line), &l) != nil || l.IsMeta || (l.Type != "user" && l.Type != "assistant") {
		return nil
	}
	var s string
	if json.Unmarshal(l.Message.Content, &s) == nil {
		if l.Type == "user" && strings.HasPrefix(s, "<") {
			return nil // a command or hook note claude adds, not the user's words
		}
		return []TranscriptEntry{{Time: l.Timestamp, Role: l.Type, Text: s}}
	}
	var parts []struct {
		Type    string          `json:"type"`
		Text    string          `json:"text"`
		Name    string          `json:"name"`
		Input   json.RawMessage `json:"input"`
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(l.Message.Content, &parts) != nil {
		return nil
	}
	var out []TranscriptEntry
	for _, p := range parts {
		switch p.Type {
		case "text":
			if l.Type == "user" && strings.HasPrefix(p.Text, "<") {
				continue
			}
			out = append(out, TranscriptEntry{Time: l.Timestamp, Role: l.Type, Text: p.Text})
		case "tool_use":
			out = append(out, TranscriptEntry{Time: l.Timestamp, Role: RoleTool, Tool: p.Name, Text: string(p.Input)})
		case "tool_result":
			text := ""
			if json.Unmarshal(p.Content, &text) != nil {
				text = string(p.Content)
			}
			out = append(out, TranscriptEntry{Time: l.Timestamp, Role: RoleTool, Text: text})
		}
	}
	return out
}

// codexEntries reads one line of a codex rollout file.
func codexEntries(line string) []TranscriptEntry {
	var l struct {
		Timestamp time.Time `json:"timestamp"`
		Type      string    `json:"type"`
		Payload   struct {
			Type    string `json:"type"`
			Role    string `json:"role"`
			Name    string `json:"name"`
			Args    string `json:"arguments"`
			Output  string `json:"output"`
			Content []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"content"`
		} `json:"payload"`
	}
	if json.Unmarshal([]byte(line), &l) != nil || l.Type != "response_item" {
		return nil
	}
	p := l.Payload
	switch p.Type {
	case "message":
		if p.Role != RoleUser && p.Role != RoleAssistant {
			return nil
		}
		var b strings.Builder
		for _, c := range p.Content {
			b.WriteString(c.Text)
		}
		text := b.String()
		if p.Role == RoleUser && strings.HasPrefix(text, "<") {
			return nil // the context codex adds, not the user's words
		}
		return []TranscriptEntry{{Time: l.Timestamp, Role: p.Role, Text: text}}
	case "function_call":
		return []TranscriptEntry{{Time: l.Timestamp, Role: RoleTool, Tool: p.Name, Text: p.Args}}
	case "function_call_output":
		return []TranscriptEntry{{Time: l.Timestamp, Role: RoleTool, Text: p.Output}}
	}
	return nil
}
