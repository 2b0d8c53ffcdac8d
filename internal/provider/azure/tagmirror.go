package azure

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v4"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// Agent-tag mirror encoding (documented in docs/azure.md): the agents' listing
// fields are JSON-encoded, deflated, base64url-encoded and split into chunks of
// at most tagValueMax chars in tags mngr-agents-0..N-1; mngr-agents holds
// "v1:<N>". When the chunks would exceed maxChunks, only ids and names are kept
// (of as many agents as fit) and the header becomes "v1t:<N>" (truncated).
const (
	tagAgents    = "mngr-agents"
	tagChunk     = "mngr-agents-"
	tagValueMax  = 256
	maxChunks    = 40 // 50 tags - 6 fixed - header - self-deallocate - 2 spare for user tooling
	maxDecodeLen = maxChunks * tagValueMax
)

// mirroredAgent is the compact form of an agent record kept in tags.
type mirroredAgent struct {
	ID      string            `json:"i"`
	Name    string            `json:"n"`
	Type    string            `json:"t,omitempty"`
	Command string            `json:"c,omitempty"`
	WorkDir string            `json:"w,omitempty"`
	Created int64             `json:"ct,omitempty"`
	Labels  map[string]string `json:"l,omitempty"`
	// Branch, Transfer and Source say where the agent's work came from, so
	// `mngr git pull` names the branch of an agent whose VM is deallocated.
	Branch   string `json:"b,omitempty"`
	Transfer string `json:"x,omitempty"`
	Source   string `json:"s,omitempty"`
}

// encodeAgentTags renders the mirror tags for agents (pure, STYLE 5).
func encodeAgentTags(agents []core.AgentRecord) map[string]string {
	full := make([]mirroredAgent, len(agents))
	slim := make([]mirroredAgent, len(agents))
	for i, a := range agents {
		cmd := a.Command
		if len(cmd) > 200 {
			cmd = cmd[:200]
		}
		full[i] = mirroredAgent{ID: string(a.ID), Name: a.Name, Type: a.Type, Command: cmd, WorkDir: a.WorkDir, Created: a.CreateTime.Unix(), Labels: a.Labels,
			Branch: a.CreatedBranchName, Transfer: string(a.Transfer), Source: a.SourcePath}
		slim[i] = mirroredAgent{ID: string(a.ID), Name: a.Name}
	}
	if chunks := packChunks(full); len(chunks) <= maxChunks {
		return chunkTags("v1", chunks)
	}
	// Keep ids and names of as many agents as fit (binary search on the count).
	lo, hi := 0, len(slim)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if len(packChunks(slim[:mid])) <= maxChunks {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if lo == 0 {
		return chunkTags("v1t", nil)
	}
	return chunkTags("v1t", packChunks(slim[:lo]))
}

func packChunks(v []mirroredAgent) []string {
	raw, _ := json.Marshal(v) // plain structs of strings cannot fail
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = w.Write(raw)
	_ = w.Close()
	s := base64.RawURLEncoding.EncodeToString(buf.Bytes())
	var out []string
	for len(s) > 0 {
		n := min(len(s), tagValueMax)
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

func chunkTags(version string, chunks []string) map[string]string {
	tags := map[string]string{tagAgents: version + ":" + strconv.Itoa(len(chunks))}
	for i, c := range chunks {
		tags[tagChunk+strconv.Itoa(i)] = c
	}
	return tags
}

// decodeAgentTags reads the mirror back; it never panics on arbitrary tags.
func decodeAgentTags(tags map[string]string) ([]core.AgentRecord, bool, error) {
	hdr, ok := tags[tagAgents]
	if !ok {
		return nil, false, nil
	}
	version, countStr, ok := strings.Cut(hdr, ":")
	if !ok || (version != "v1" && version != "v1t") {
		return nil, false, fmt.Errorf("agent mirror header %q: unknown format", hdr)
	}
	n, err := strconv.Atoi(countStr)
	if err != nil || n < 0 || n > maxChunks {
		return nil, false, fmt.Errorf("agent mirror header %q: bad chunk count", hdr)
	}
	var sb strings.Builder
	for i := range n {
		c, ok := tags[tagChunk+strconv.Itoa(i)]
		if !ok {
			return nil, false, fmt.Errorf("agent mirror chunk %d missing", i)
		}
		sb.WriteString(c)
	}
	if n == 0 {
		return nil, version == "v1t", nil
	}
	comp, err := base64.RawURLEncoding.DecodeString(sb.String())
	if err != nil {
		return nil, false, fmt.Errorf("decode agent mirror: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(comp)), 1<<20))
	if err != nil {
		return nil, false, fmt.Errorf("inflate agent mirror: %w", err)
	}
	var ms []mirroredAgent
	if err := json.Unmarshal(raw, &ms); err != nil {
		return nil, false, fmt.Errorf("parse agent mirror: %w", err)
	}
	out := make([]core.AgentRecord, 0, len(ms))
	for _, m := range ms {
		rec := core.AgentRecord{ID: core.AgentID(m.ID), Name: m.Name, Type: m.Type, Command: m.Command, WorkDir: m.WorkDir, Labels: m.Labels,
			CreatedBranchName: m.Branch, Transfer: core.TransferMode(m.Transfer), SourcePath: m.Source}
		if m.Created != 0 {
			rec.CreateTime = time.Unix(m.Created, 0).UTC()
		}
		out = append(out, rec)
	}
	return out, version == "v1t", nil
}

// MirrorAgents writes the agents into the VM's tags: Merge of the new chunks, then Delete of stale ones.
func (c *Client) MirrorAgents(ctx context.Context, id core.HostID, agents []core.AgentRecord) error {
	in, err := c.GetInstance(ctx, id)
	if err != nil {
		return err
	}
	want := encodeAgentTags(agents)
	merge := map[string]*string{}
	for k, v := range want {
		merge[k] = to.Ptr(v)
	}
	stale := map[string]*string{}
	for k, v := range in.Tags {
		if strings.HasPrefix(k, tagChunk) {
			if _, keep := want[k]; !keep {
				stale[k] = to.Ptr(v)
			}
		}
	}
	for _, op := range []struct {
		kind armresources.TagsPatchOperation
		tags map[string]*string
	}{{armresources.TagsPatchOperationMerge, merge}, {armresources.TagsPatchOperationDelete, stale}} {
		if len(op.tags) == 0 {
			continue
		}
		patch := armresources.TagsPatchResource{Operation: to.Ptr(op.kind), Properties: &armresources.Tags{Tags: op.tags}}
		if _, err := awaitLRO(ctx, c, "", func() (*runtime.Poller[armresources.TagsClientUpdateAtScopeResponse], error) {
			return c.tags.BeginUpdateAtScope(ctx, in.ID, patch, nil)
		}, classifyAs("update agent tags of "+resourceName(in.ID), in.Region, "")); err != nil {
			return err
		}
	}
	return nil
}

// MirroredAgents returns the agents mirrored in an instance's tags.
func (c *Client) MirroredAgents(inst vps.Instance) ([]core.AgentRecord, error) {
	recs, _, err := decodeAgentTags(inst.Tags)
	return recs, err
}

var _ vps.InstanceRenamer = (*Client)(nil)

// RenameInstance re-stamps the VM's mngr-host-name tag with newName (and
// adds extraTags) by one Merge of its tags: an ARM tags call, which works
// on a deallocated VM without starting it. The VM's resource name and
// computer name, and its NIC and public IP (named after the VM), keep the
// name they were made with: Azure cannot rename a resource.
func (c *Client) RenameInstance(ctx context.Context, id core.HostID, newName string, extraTags map[string]string) error {
	in, err := c.GetInstance(ctx, id)
	if err != nil {
		return err
	}
	merge := map[string]*string{tagHostName: to.Ptr(newName)}
	for k, v := range extraTags {
		merge[k] = to.Ptr(v)
	}
	patch := armresources.TagsPatchResource{Operation: to.Ptr(armresources.TagsPatchOperationMerge), Properties: &armresources.Tags{Tags: merge}}
	_, err = awaitLRO(ctx, c, "", func() (*runtime.Poller[armresources.TagsClientUpdateAtScopeResponse], error) {
		return c.tags.BeginUpdateAtScope(ctx, in.ID, patch, nil)
	}, classifyAs("rename host tag of "+resourceName(in.ID), in.Region, ""))
	return err
}
