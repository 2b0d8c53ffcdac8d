package azure

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
)

func agents(n int) []core.AgentRecord {
	out := make([]core.AgentRecord, n)
	for i := range out {
		out[i] = core.AgentRecord{
			ID: core.AgentID(fmt.Sprintf("agent-%032x", i*7919+1)), Name: fmt.Sprintf("agent-number-%d", i), Type: "claude",
			Command: "claude --dangerously-skip-permissions " + strings.Repeat("x", i%50), WorkDir: fmt.Sprintf("/mngr/work/%d", i),
			CreateTime: time.Unix(1_700_000_000+int64(i), 0).UTC(), Labels: map[string]string{"team": "a"},
		}
	}
	return out
}

func TestAgentTagMirrorRoundTripAndLimits(t *testing.T) {
	for _, n := range []int{0, 1, 14, 15, 100, 500, 5000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			in := agents(n)
			tags := encodeAgentTags(in)
			if len(tags)+6 > 50 { // 5 fixed tags + self-deallocate marker
				t.Fatalf("%d agents use %d tags", n, len(tags))
			}
			for k, v := range tags {
				if len(k) > 512 || len(v) > 256 {
					t.Fatalf("tag %s has %d chars", k, len(v))
				}
			}
			got, truncated, err := decodeAgentTags(tags)
			if err != nil {
				t.Fatal(err)
			}
			if truncated {
				if len(got) > 0 && got[0].Name != in[0].Name {
					t.Fatalf("truncated mirror lost names")
				}
				return
			}
			if len(got) != n {
				t.Fatalf("decoded %d agents, want %d", len(got), n)
			}
			for i := range got {
				w := core.AgentRecord{ID: in[i].ID, Name: in[i].Name, Type: in[i].Type, Command: in[i].Command, WorkDir: in[i].WorkDir, CreateTime: in[i].CreateTime, Labels: in[i].Labels}
				if d := cmp.Diff(w, got[i]); d != "" {
					t.Fatalf("agent %d (-want +got)\n%s", i, d)
				}
			}
		})
	}
}

func TestAgentTagMirrorKeepsNamesFor500(t *testing.T) {
	got, _, err := decodeAgentTags(encodeAgentTags(agents(500)))
	if err != nil || len(got) != 500 || got[499].Name != "agent-number-499" {
		t.Fatalf("500 agents: got %d, %v", len(got), err)
	}
}

func TestDecodeAgentTagsRejectsGarbage(t *testing.T) {
	for _, tags := range []map[string]string{
		{tagAgents: "v2:1"}, {tagAgents: "v1:x"}, {tagAgents: "v1:1"}, {tagAgents: "v1:999"},
		{tagAgents: "v1:1", tagChunk + "0": "!!!"}, {tagAgents: "v1:1", tagChunk + "0": "AAAA"},
	} {
		if _, _, err := decodeAgentTags(tags); err == nil {
			t.Errorf("decodeAgentTags(%v) = nil error", tags)
		}
	}
	if got, _, err := decodeAgentTags(map[string]string{"other": "x"}); err != nil || got != nil {
		t.Errorf("no mirror: %v %v", got, err)
	}
}

func FuzzDecodeAgentTags(f *testing.F) {
	good := encodeAgentTags(agents(3))
	f.Add(good[tagAgents], good[tagChunk+"0"], "")
	f.Add("v1:2", "eJw", "AAAA")
	f.Add("v1t:0", "", "")
	f.Fuzz(func(t *testing.T, hdr, c0, c1 string) {
		_, _, _ = decodeAgentTags(map[string]string{tagAgents: hdr, tagChunk + "0": c0, tagChunk + "1": c1})
	})
}

func TestAgentTagMirrorTruncatesToIDsAndNames(t *testing.T) {
	got, truncated, err := decodeAgentTags(encodeAgentTags(agents(5000)))
	if err != nil || !truncated || len(got) < 100 || got[0].Name != "agent-number-0" || got[0].Command != "" {
		t.Fatalf("5000 agents: truncated=%v, %d kept, err %v", truncated, len(got), err)
	}
}
