package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Label limits. Labels travel in the agent's record on its host and in the
// provider's mirror beside the host (Azure VM tags), so they keep within
// Azure's tag rules: a key of at most 128 characters (Azure allows 512 on
// most resources; 128 keeps keys readable as CEL field names) without any
// of < > % & \ ? /, a value of at most 256 characters, and no control
// characters in either.
const (
	MaxLabelKeyLength   = 128
	MaxLabelValueLength = 256
)

// ValidateLabel checks one label key and value.
func ValidateLabel(key, value string) error {
	hint := "a key is 1-128 characters without < > % & \\ ? / or spaces; a value at most 256 printable characters"
	switch {
	case key == "":
		return WithHint(fmt.Errorf("empty label key: %w", ErrInvalidInput), "%s", hint)
	case utf8.RuneCountInString(key) > MaxLabelKeyLength:
		return WithHint(fmt.Errorf("label key %.20q… is longer than %d characters: %w", key, MaxLabelKeyLength, ErrInvalidInput), "%s", hint)
	case strings.ContainsAny(key, "<>%&\\?/ \t"):
		return WithHint(fmt.Errorf("label key %q has a character Azure tags refuse: %w", Printable(key), ErrInvalidInput), "%s", hint)
	case utf8.RuneCountInString(value) > MaxLabelValueLength:
		return WithHint(fmt.Errorf("label %s: value is longer than %d characters: %w", key, MaxLabelValueLength, ErrInvalidInput), "%s", hint)
	case !utf8.ValidString(key) || !utf8.ValidString(value):
		return WithHint(fmt.Errorf("label %q is not valid UTF-8: %w", Printable(key), ErrInvalidInput), "%s", hint)
	}
	for _, r := range key + value {
		if unicode.IsControl(r) {
			return WithHint(fmt.Errorf("label %q holds a control character: %w", Printable(key), ErrInvalidInput), "%s", hint)
		}
	}
	return nil
}

// ValidateLabels checks every label of m.
func ValidateLabels(m map[string]string) error {
	for k, v := range m {
		if err := ValidateLabel(k, v); err != nil {
			return err
		}
	}
	return nil
}

// EditLabels returns labels with set applied and the keys of remove
// dropped (a copy; labels is not changed).
func EditLabels(labels, set map[string]string, remove []string) map[string]string {
	out := maps.Clone(labels)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, set)
	for _, k := range remove {
		delete(out, k)
	}
	return out
}

// Record edits (labels, renames) are a read on one round trip and a write
// on the next, so two edits of one agent at once could each write what it
// read and lose the other's change. The write is therefore a compare and
// swap: under a lock on the record it writes only when the record still
// has the content the edit read (its SHA-256), else exits
// exitRecordChanged and the edit reads again, up to recordEditTries times.
const (
	exitRecordChanged = 75
	recordEditTries   = 20
)

// recordEditBackoff waits before the try-th read of an edit that lost a
// race: a random time that grows with the tries, so that edits racing for
// one record spread out instead of colliding again.
func recordEditBackoff(ctx context.Context, try int) error {
	if try == 0 {
		return nil
	}
	return Sleep(ctx, time.Duration(rand.Int64N(int64(try)*int64(15*time.Millisecond)))+time.Millisecond) //nolint:gosec // a jitter, not a secret
}

// readRecord is an agent record as read: the record, its raw fields (so a
// rewrite keeps fields this mngr does not know) and its content's SHA-256.
type readRecord struct {
	rec AgentRecord
	raw map[string]json.RawMessage
	sum string
}

// readAgentRecord reads agent id's data.json on h.
func readAgentRecord(ctx context.Context, h *Host, id AgentID) (readRecord, error) {
	p := path.Join(agentStateDir(h, id), "data.json")
	// The write hashes the file on the host: cat passes its bytes as
	// they are, so both sides hash the same ones.
	res, err := h.mustRun(ctx, "read agent record "+string(id), "cat "+ShellQuote(p))
	if err != nil {
		return readRecord{}, err
	}
	var r readRecord
	if err := json.Unmarshal([]byte(res.Stdout), &r.rec); err != nil {
		return readRecord{}, fmt.Errorf("parse %s on host %q: %w", p, h.Name, err)
	}
	if err := json.Unmarshal([]byte(res.Stdout), &r.raw); err != nil {
		return readRecord{}, fmt.Errorf("parse %s on host %q: %w", p, h.Name, err)
	}
	sum := sha256.Sum256([]byte(res.Stdout))
	r.sum = hex.EncodeToString(sum[:])
	return r, nil
}

// recordCASScript runs then under the record lock of agent id when its
// data.json still hashes to sum; else it exits exitRecordChanged (and 9,
// exitLockBusy, when the lock is not had within 30 s). Hosts without
// flock get the check without the lock.
func recordCASScript(h *Host, id AgentID, sum, then string) string {
	p := ShellQuote(path.Join(agentStateDir(h, id), "data.json"))
	return fmt.Sprintf(`(
if command -v flock >/dev/null 2>&1; then exec 8>%s.lock && flock -w 30 8 || exit %d; fi
[ "$(sha256sum < %s | cut -c1-64)" = %s ] || exit %d
%s
)`, p, exitLockBusy, p, ShellQuote(sum), exitRecordChanged, then)
}

// errRecordKeptChanging is the error of an edit whose every try met a record
// changed since it was read.
func errRecordKeptChanging(h *Host, name string) error {
	return WithHint(fmt.Errorf("the record of agent %q on host %q changed under each of %d tries to edit it: %w", name, h.Name, recordEditTries, ErrConflict),
		"another mngr edits it at the same time; run the command again")
}

// recordWriteScript rewrites agent rec's data.json: raw's fields with
// rec's name, labels and start_on_boot (atomically).
func recordWriteScript(h *Host, rec AgentRecord, raw map[string]json.RawMessage) (string, error) {
	name, err := json.Marshal(rec.Name)
	if err != nil {
		return "", fmt.Errorf("encode agent %q: %w", rec.Name, err)
	}
	labels, err := json.Marshal(rec.Labels)
	if err != nil {
		return "", fmt.Errorf("encode labels of agent %q: %w", rec.Name, err)
	}
	boot, err := json.Marshal(rec.StartOnBoot)
	if err != nil {
		return "", fmt.Errorf("encode agent %q: %w", rec.Name, err)
	}
	raw["name"], raw["labels"], raw["start_on_boot"] = name, labels, boot
	data, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode agent %q: %w", rec.Name, err)
	}
	return writeFileScript(path.Join(agentStateDir(h, rec.ID), "data.json"), string(data)+"\n"), nil
}

// SetAgentLabels applies set and remove to the labels in agent id's record
// on the online host h and returns the record as written.
func SetAgentLabels(ctx context.Context, h *Host, id AgentID, set map[string]string, remove []string) (AgentRecord, error) {
	if err := ValidateLabels(set); err != nil {
		return AgentRecord{}, err
	}
	return editAgentRecord(ctx, h, id, "write labels of agent", func(rec *AgentRecord) {
		rec.Labels = EditLabels(rec.Labels, set, remove)
	})
}

// SetAgentStartOnBoot sets whether agent id on the online host h starts
// whenever mngr starts its host (see StartBootAgents), and returns the
// record as written.
func SetAgentStartOnBoot(ctx context.Context, h *Host, id AgentID, on bool) (AgentRecord, error) {
	return editAgentRecord(ctx, h, id, "write start-on-boot of agent", func(rec *AgentRecord) { rec.StartOnBoot = on })
}

// editAgentRecord applies edit to agent id's record on h with the
// compare-and-swap write, reading again when another edit came first.
func editAgentRecord(ctx context.Context, h *Host, id AgentID, what string, edit func(*AgentRecord)) (AgentRecord, error) {
	var name string
	for try := range recordEditTries {
		if err := recordEditBackoff(ctx, try); err != nil {
			return AgentRecord{}, err
		}
		r, err := readAgentRecord(ctx, h, id)
		if err != nil {
			return AgentRecord{}, err
		}
		rec := r.rec
		name = rec.Name
		edit(&rec)
		write, err := recordWriteScript(h, rec, r.raw)
		if err != nil {
			return AgentRecord{}, err
		}
		res, err := h.mustRun(ctx, what+" "+strconv.Quote(rec.Name), recordCASScript(h, id, r.sum, write))
		if res.ExitCode == exitRecordChanged {
			continue
		}
		if err != nil {
			return AgentRecord{}, err
		}
		return rec, nil
	}
	return AgentRecord{}, errRecordKeptChanging(h, name)
}

// RenameAgent renames agent id on the online host h to newName: it claims
// the new name (refused when an agent or tmux session has it), rewrites
// the record and the MNGR_AGENT_NAME of its env file, renames its tmux
// session when it runs, and releases the old name. Processes already
// running keep the old MNGR_AGENT_NAME in their environment until the
// agent is started again.
func RenameAgent(ctx context.Context, h *Host, prefix string, id AgentID, newName string) (AgentRecord, error) {
	if err := ValidateName("agent", newName); err != nil {
		return AgentRecord{}, err
	}
	r, err := readAgentRecord(ctx, h, id)
	if err != nil {
		return AgentRecord{}, err
	}
	if r.rec.Name == newName {
		return r.rec, nil
	}
	if err := ClaimAgentName(ctx, h, prefix, newName, id); err != nil {
		return AgentRecord{}, err
	}
	giveBack := func() {
		// The new name stays claimed by this agent's id only while its
		// record says so: give it back.
		uctx, cancel := UndoContext(ctx, 30*time.Second)
		_ = ReleaseAgentName(uctx, h, newName, id)
		cancel()
	}
	for try := range recordEditTries {
		if try > 0 {
			if err := recordEditBackoff(ctx, try); err != nil {
				giveBack()
				return AgentRecord{}, err
			}
			if r, err = readAgentRecord(ctx, h, id); err != nil {
				giveBack()
				return AgentRecord{}, err
			}
		}
		old, rec := r.rec, r.rec
		rec.Name = newName
		write, err := recordWriteScript(h, rec, r.raw)
		if err != nil {
			giveBack()
			return AgentRecord{}, err
		}
		env := ShellQuote(agentEnvFile(h, id))
		oldSess, newSess := SessionName(prefix, old.Name), SessionName(prefix, newName)
		script := strings.Join([]string{
			"set -e",
			recordCASScript(h, id, r.sum, write),
			// The env file is the agent's own (0600): its name line is
			// replaced in a copy that keeps the mode, then moved over it.
			fmt.Sprintf("if [ -f %s ]; then (umask 077 && sed 's/^MNGR_AGENT_NAME=.*$/MNGR_AGENT_NAME=%s/' %s > %s.tmp.$$) && mv -f %s.tmp.$$ %s; fi",
				env, newName, env, env, env, env),
			fmt.Sprintf("if command -v tmux >/dev/null 2>&1 && tmux has-session -t %s 2>/dev/null; then tmux rename-session -t %s %s; fi",
				ShellQuote("="+oldSess), ShellQuote("="+oldSess), ShellQuote(newSess)),
			releaseNameScript(h, old),
		}, "\n")
		res, err := h.mustRun(ctx, "rename agent "+strconv.Quote(old.Name), script)
		if res.ExitCode == exitRecordChanged {
			continue
		}
		if err != nil {
			giveBack()
			return AgentRecord{}, err
		}
		return rec, nil
	}
	giveBack()
	return AgentRecord{}, errRecordKeptChanging(h, r.rec.Name)
}

// SyncAgentRecord makes the record on the online host h agree with want,
// the record the provider kept beside the host while it was offline (a
// label or a rename made then): the mirror wins for the name and labels.
// A record without its create time is a mirror cut short to ids and names
// (too many agents for the tags) and is not applied.
func SyncAgentRecord(ctx context.Context, h *Host, want AgentRecord) (AgentRecord, error) {
	if want.CreateTime.IsZero() {
		return want, nil
	}
	r, err := readAgentRecord(ctx, h, want.ID)
	if err != nil {
		return want, err
	}
	rec := r.rec
	if rec.Name != want.Name {
		if rec, err = RenameAgent(ctx, h, h.Prefix(), want.ID, want.Name); err != nil {
			return want, err
		}
	}
	if !maps.Equal(rec.Labels, want.Labels) && (len(rec.Labels) > 0 || len(want.Labels) > 0) {
		var remove []string
		for k := range rec.Labels {
			if _, ok := want.Labels[k]; !ok {
				remove = append(remove, k)
			}
		}
		if rec, err = SetAgentLabels(ctx, h, want.ID, want.Labels, remove); err != nil {
			return want, err
		}
	}
	return rec, nil
}

// PersistRecord writes rec to the provider's mirror beside its host when
// the provider keeps one; a provider that keeps none is not an error.
func PersistRecord(ctx context.Context, p Provider, host HostID, rec AgentRecord) error {
	ap, ok := p.(AgentPersister)
	if !ok {
		return nil
	}
	if err := ap.PersistAgent(ctx, host, rec); err != nil && !errors.Is(err, ErrNotSupported) {
		return fmt.Errorf("mirror the record of agent %q: %w", rec.Name, err)
	}
	return nil
}

// LabelAgent applies set and remove to the labels of agent r: in its
// record on its host when the host is online, and in the provider's
// mirror beside the host (when it keeps one). A host that is offline has
// only its mirror written (Azure: a tag update on the deallocated VM,
// which does not start it); the next start writes it into the host's
// record (SyncAgentRecord). offline says the host was not reached.
func LabelAgent(ctx context.Context, r *AgentRef, set map[string]string, remove []string) (rec AgentRecord, offline bool, err error) {
	if err := ValidateLabels(set); err != nil {
		return AgentRecord{}, false, err
	}
	if r.Online != nil {
		rec, err = SetAgentLabels(ctx, r.Online, r.Record.ID, set, remove)
		if err != nil {
			return AgentRecord{}, false, err
		}
		return rec, false, PersistRecord(ctx, r.Provider, r.Host.ID, rec)
	}
	rec, err = offlineRecord(r)
	if err != nil {
		return AgentRecord{}, true, err
	}
	rec.Labels = EditLabels(rec.Labels, set, remove)
	return rec, true, PersistRecord(ctx, r.Provider, r.Host.ID, rec)
}

// offlineRecord is the record of agent r on an offline host, as the
// provider's mirror holds it, when it can be changed there.
func offlineRecord(r *AgentRef) (AgentRecord, error) {
	if r.Host.Agents == nil {
		return AgentRecord{}, WithHint(fmt.Errorf("host %q of agent %q is %s and its provider keeps no record beside it: %w",
			r.Host.Name, r.Record.Name, r.Host.State, ErrHostOffline), "start it first: mngr start %s", r.Record.Name)
	}
	if r.Record.CreateTime.IsZero() {
		return AgentRecord{}, WithHint(fmt.Errorf("host %q of agent %q is %s and its mirror holds only the ids and names of its agents (too many for the VM's tags): %w",
			r.Host.Name, r.Record.Name, r.Host.State, ErrHostOffline), "start it first: mngr start %s", r.Record.Name)
	}
	return r.Record, nil
}

// RenameAgentRef renames agent r to newName: on its host when online (see
// RenameAgent), else in the provider's mirror only, applied to the host's
// record at its next start (SyncAgentRecord). The caller has checked that
// no other agent it knows has newName.
func RenameAgentRef(ctx context.Context, r *AgentRef, newName string) (rec AgentRecord, offline bool, err error) {
	if err := ValidateName("agent", newName); err != nil {
		return AgentRecord{}, false, err
	}
	if r.Online != nil {
		rec, err = RenameAgent(ctx, r.Online, r.Online.Prefix(), r.Record.ID, newName)
		if err != nil {
			return AgentRecord{}, false, err
		}
		return rec, false, PersistRecord(ctx, r.Provider, r.Host.ID, rec)
	}
	rec, err = offlineRecord(r)
	if err != nil {
		return AgentRecord{}, true, err
	}
	for _, a := range r.Host.Agents {
		if a.Name == newName && a.ID != rec.ID {
			return AgentRecord{}, true, WithHint(fmt.Errorf("agent %q already exists on host %q: %w", newName, r.Host.Name, ErrConflict), "pick another name")
		}
	}
	rec.Name = newName
	return rec, true, PersistRecord(ctx, r.Provider, r.Host.ID, rec)
}

// LabelResult is one agent's labels as LabelAgents wrote them.
type LabelResult struct {
	Agent  string            `json:"agent"`
	ID     AgentID           `json:"id"`
	Labels map[string]string `json:"labels"`
	// Offline says only the provider's mirror was written (the host was
	// offline); the host's record gets it at the next start.
	Offline bool `json:"offline"`
}

// LabelAgents labels each agent of refs (LabelAgent), going on with the
// others when one fails.
func LabelAgents(ctx context.Context, refs []AgentRef, set map[string]string, remove []string) (Report, []LabelResult) {
	var rep Report
	results := []LabelResult{}
	for i := range refs {
		r := &refs[i]
		done := ProgressFrom(ctx).Step("labelling agent " + r.Record.Name)
		rec, offline, err := LabelAgent(ctx, r, set, remove)
		done(err)
		if err != nil {
			rep.fail(NewFailure(fmt.Errorf("label agent %q: %w", r.Record.Name, err), r.Record.Name, r.Host.ID, ""))
			continue
		}
		rep.succeed(r.Record.Name)
		results = append(results, LabelResult{Agent: rec.Name, ID: rec.ID, Labels: rec.Labels, Offline: offline})
	}
	return rep, results
}
