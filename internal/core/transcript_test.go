package core

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTranscript(t *testing.T) {
	// Line shapes as Claude Code 2.1.143 and Codex 0.153.3 write them.
	claude := `{"type":"permission-mode","permissionMode":"default","sessionId":"s"}
{"type":"user","message":{"role":"user","content":"hello ` + "`x`" + `"},"timestamp":"2026-12-07T04:08:45.089Z"}
{"type":"user","isMeta":true,"message":{"role":"user","content":"<local-command-caveat>"}}
{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"I will commit."},{"type":"tool_use","name":"Bash","input":{"command":"git commit"}}]}}
{"type":"user","message":{"role":"user","content":[{"type":"tool_result","content":"1 file changed"}]}}
not json`
	want := []TranscriptEntry{
		{Role: RoleUser, Text: "hello `x`"},
		{Role: RoleAssistant, Text: "I will commit."},
		{Role: RoleTool, Tool: "Bash", Text: `{"command":"git commit"}`},
		{Role: RoleTool, Text: "1 file changed"},
	}
	got := parseTranscript("claude", claude)
	for i := range got {
		got[i].Time = got[i].Time.UTC()
	}
	if len(got) > 0 {
		want[0].Time = got[0].Time
		if got[0].Time.IsZero() {
			t.Error("the claude turn's time was not read")
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("claude (-want +got)\n%s", d)
	}
	codex := `{"type":"session_meta","payload":{"cwd":"/w"}}
{"type":"response_item","payload":{"type":"message","role":"developer","content":[{"type":"input_text","text":"rules"}]}}
{"type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"<environment_context>"}]}}
{"type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"codex hello 42"}]}}
{"type":"response_item","payload":{"type":"function_call","name":"shell","arguments":"{\"cmd\":\"ls\"}"}}
{"type":"response_item","payload":{"type":"function_call_output","output":"a b"}}
{"type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"done"}]}}`
	wantCodex := []TranscriptEntry{
		{Role: RoleUser, Text: "codex hello 42"},
		{Role: RoleTool, Tool: "shell", Text: `{"cmd":"ls"}`},
		{Role: RoleTool, Text: "a b"},
		{Role: RoleAssistant, Text: "done"},
	}
	if d := cmp.Diff(wantCodex, parseTranscript("codex", codex)); d != "" {
		t.Errorf("codex (-want +got)\n%s", d)
	}
}

func TestMessageNeedle(t *testing.T) {
	tests := []struct{ text, want string }{
		{"hello world", "hello world"},
		{`say "hi" to the tests`, "to the tests"},
		{"ünïcode only", "code only"},
		{"\"\\\"", ""},
		{"0123456789012345678901234567890123456789012345678901234567890123456789", "0123456789012345678901234567890123456789012345678901234567890123"},
	}
	for _, tt := range tests {
		if got := messageNeedle(tt.text); got != tt.want {
			t.Errorf("messageNeedle(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}
