package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// CreateRequest is a checked `mngr create`: which provider and host, the
// agent, and what to transfer into its work dir.
type CreateRequest struct {
	Provider Provider
	// ProviderName is the provider instance's name, for messages.
	ProviderName string
	// HostName names the host to use: an existing one, or the name of a
	// new one. Empty makes a new host named <agent>-host (or uses the
	// provider's shared host).
	HostName string
	// HostMustExist refuses to make a new host when HostName is not found
	// (--host, as opposed to NAME@HOST.PROVIDER).
	HostMustExist bool
	// NewHost is the request for a new host (its Name is filled in here).
	NewHost CreateHostRequest
	Agent   AgentSpec
	// Transfer brings the project into the work dir; nil transfers nothing.
	Transfer *Transfer
	// Progress receives git's and rsync's progress output, or nil.
	Progress io.Writer
	// Message, when set, is sent to the agent once it is ready (within
	// the agent's ReadyTimeoutSeconds).
	Message string
	// ConfirmTimeout bounds the wait for evidence that the agent took the
	// message (message_confirm_timeout; DefaultMessageConfirmTimeout when
	// zero).
	ConfirmTimeout time.Duration
	// HostEnv are KEY=VALUE entries merged into the host's env file, which
	// every agent on the host loads before its own (--host-env,
	// --host-env-file, --pass-host-env).
	HostEnv []string
}

// CreateResult is what Create made.
type CreateResult struct {
	Host   *Host
	Agent  AgentRecord
	Origin AgentOrigin
	// NewHost says the host was made by this create.
	NewHost bool
	// Endpoint is how git and rsync reached the host for the transfer
	// (nil on this machine, or when nothing was transferred).
	Endpoint *SSHEndpoint
	// Delivery is how the first message reached the agent (zero without
	// one).
	Delivery Delivery
}

// Create makes an agent: it picks or makes the host (starting a stopped
// one), transfers the project into the agent's work dir, writes the
// agent's state, mirrors its record beside the host and starts it. When
// any step fails, what this create made is removed again (the new host, the
// work dir, the agent's state) and the error says so.
func Create(ctx context.Context, req CreateRequest) (*CreateResult, error) {
	prog := ProgressFrom(ctx)
	host, created, err := targetHost(ctx, req)
	if err != nil {
		return nil, err
	}
	res := &CreateResult{Host: host, NewHost: created}
	prefix := host.Prefix()
	var undo []func(context.Context) error
	spec := req.Agent
	if spec.ID == "" {
		spec.ID = NewAgentID()
	}
	left := LeftoversFrom(ctx)
	rollback := func(cause error) error {
		// The undo runs even when ctx was cancelled (an interrupt), on its
		// own bounded context.
		rctx, cancel := UndoContext(ctx, UndoTimeout)
		defer cancel()
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			if err := undo[i](rctx); err != nil {
				errs = append(errs, err)
			}
		}
		if created {
			done := prog.Step("removing the new host " + host.Name)
			err := req.Provider.DestroyHost(rctx, host.ID)
			done(err)
			if err != nil {
				errs = append(errs, fmt.Errorf("destroy the new host %q: %w", host.Name, err))
			}
		}
		if len(errs) == 0 {
			left.Forget(string(spec.ID))
		}
		if len(errs) > 0 {
			return WithHint(fmt.Errorf("%w (and cleaning up failed: %v)", cause, errors.Join(errs...)),
				"run `mngr gc --provider %s` to remove what is left", req.ProviderName)
		}
		return cause
	}
	if err := writeHostEnv(ctx, host, req.HostEnv); err != nil {
		return nil, rollback(fmt.Errorf("host env of %q: %w", host.Name, err))
	}
	if err := runNewHostSetup(ctx, req, host, created); err != nil {
		return nil, rollback(err)
	}
	if err := ClaimAgentName(ctx, host, prefix, spec.Name, spec.ID); err != nil {
		return nil, rollback(err)
	}
	undo = append(undo, func(c context.Context) error { return ReleaseAgentName(c, host, spec.Name, spec.ID) })
	// A missing agent CLI is found before the project is transferred.
	if err := checkAgentCLI(ctx, host, spec); err != nil {
		return nil, rollback(err)
	}
	if req.Transfer != nil {
		origin, workDir, ep, u, err := runTransfer(ctx, req, host, spec)
		if err != nil {
			return nil, rollback(err)
		}
		if u != nil {
			undo = append(undo, u)
		}
		res.Origin, res.Endpoint = origin, ep
		spec.Origin = origin
		spec.WorkDir = workDir
	}
	left.Add(Leftover{Key: string(spec.ID), Kind: "agent", Name: spec.Name + " (half created)",
		Remove: "mngr destroy -f " + spec.Name})
	done := prog.Step("creating agent " + spec.Name)
	rec, err := CreateAgent(ctx, host, prefix, spec)
	done(err)
	if err != nil {
		return nil, rollback(fmt.Errorf("create agent %q: %w", spec.Name, err))
	}
	res.Agent = rec
	undo = append(undo, func(c context.Context) error {
		if err := DestroyAgent(c, host, prefix, rec); err != nil {
			return err
		}
		if ap, ok := req.Provider.(AgentPersister); ok {
			if err := ap.RemovePersistedAgent(c, host.ID, rec.ID); err != nil && !errors.Is(err, ErrNotSupported) && !created {
				return err
			}
		}
		return nil
	})
	if ap, ok := req.Provider.(AgentPersister); ok {
		if err := ap.PersistAgent(ctx, host.ID, rec); err != nil && !errors.Is(err, ErrNotSupported) {
			prog.Warn(fmt.Sprintf("could not persist agent record outside the host: %v", err))
		}
	}
	if err := uploadFiles(ctx, host, rec, spec.Uploads); err != nil {
		return nil, rollback(err)
	}
	if err := runProvisionCommands(ctx, host, rec, spec.ProvisionCommands); err != nil {
		return nil, rollback(err)
	}
	done = prog.Step("starting agent " + spec.Name)
	err = StartAgent(ctx, host, prefix, rec)
	done(err)
	if err != nil {
		return nil, rollback(fmt.Errorf("start agent %q: %w", spec.Name, err))
	}
	// The agent runs: what this create made belongs to it now.
	left.Forget(string(spec.ID))
	left.Forget(string(host.ID))
	if !created && !req.NewHost.Idle.Empty() {
		// A new host got its policy from the provider; an existing one
		// (or the shared local host) has it changed now, once the agent
		// is there (a failed create leaves the host's policy alone).
		if err := ApplyIdleChange(ctx, req.Provider, host, req.NewHost.Idle); err != nil {
			return res, WithHint(fmt.Errorf("agent %q was created, but the idle policy of host %q was not changed: %w", spec.Name, host.Name, err),
				"set it with: mngr limit %s --idle-timeout … --idle-mode …", spec.Name)
		}
	}
	if req.Message != "" {
		// The agent exists and runs: a message that does not arrive is
		// reported, and the agent is kept.
		done = prog.Step("sending the first message to " + spec.Name)
		timeout := time.Duration(rec.ReadyTimeoutSeconds * float64(time.Second))
		err := WaitAgentReady(ctx, host, prefix, rec, timeout)
		if err == nil {
			res.Delivery, err = DeliverMessage(ctx, host, prefix, rec, req.Message, req.ConfirmTimeout)
		}
		done(err)
		if err != nil {
			hint := fmt.Sprintf("send it again with: mngr message %s -m '…' (or raise agent_ready_timeout)", spec.Name)
			if h := HintOf(err); h != "" {
				hint = h
			}
			return res, WithHint(fmt.Errorf("agent %q was created, but its first message was not confirmed: %w", spec.Name, err), "%s", hint)
		}
	}
	return res, nil
}

// runTransfer brings the project into the new agent's work dir and returns
// its origin, the work dir and how to undo it.
func runTransfer(ctx context.Context, req CreateRequest, host *Host, spec AgentSpec) (AgentOrigin, string, *SSHEndpoint, func(context.Context) error, error) {
	t := req.Transfer
	workDir := t.WorkDirFor(host, spec.ID, spec.Name)
	origin := AgentOrigin{SourcePath: t.Source.Dir, Transfer: t.Mode, BaseBranch: t.BaseBranch, Branch: t.NewBranch}
	if t.Mode == TransferNone {
		if !t.thisMachine {
			origin.SourcePath = ""
		}
		return origin, workDir, nil, nil, nil
	}
	// A remote host without an endpoint leaves remote nil, and Run refuses.
	var remote *SSHEndpoint
	if se, ok := req.Provider.(SSHEndpointer); ok && !t.thisMachine {
		ep, err := se.SSHEndpoint(ctx, host.ID)
		if err != nil {
			return origin, "", nil, nil, fmt.Errorf("find the ssh endpoint of host %q: %w", host.Name, err)
		}
		remote = &ep
	}
	what := fmt.Sprintf("transferring %s (%s", t.Source.Dir, t.Mode)
	if t.NewBranch != "" {
		what += ", branch " + t.NewBranch
	}
	LeftoversFrom(ctx).Add(Leftover{Key: string(spec.ID), Kind: "work dir", Name: workDir + onHost(host), Remove: t.undoCommand(workDir)})
	done := ProgressFrom(ctx).Step(what + ")")
	dst, err := t.Run(ctx, host, remote, workDir, TransferIO{Progress: req.Progress})
	done(err)
	if err != nil {
		return origin, "", nil, nil, fmt.Errorf("transfer the project into the work dir of agent %q: %w", spec.Name, err)
	}
	origin.WorkDirCreated = dst.Made
	return origin, dst.WorkDir, remote, func(c context.Context) error { return t.Undo(c, host, dst) }, nil
}

// onHost is " on host NAME" for a remote host, else "".
func onHost(h *Host) string {
	if !h.Remote {
		return ""
	}
	return " on host " + h.Name
}

// targetHost returns the host to create the agent on and whether it was
// made now.
func targetHost(ctx context.Context, req CreateRequest) (*Host, bool, error) {
	prov := req.Provider
	shared := CapabilitiesOf(prov).SharedHost
	if shared || req.HostName != "" {
		hosts, err := prov.ListHosts(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("list hosts of %q: %w", req.ProviderName, err)
		}
		if shared && len(hosts) == 0 {
			// A shared host nobody has used yet (local: no host dir, which
			// a listing does not make) is set up now. It is not new in
			// the sense of rollback: a shared host is never destroyed.
			hr := req.NewHost
			hr.Name = req.HostName
			h, err := prov.CreateHost(ctx, hr)
			if err != nil {
				return nil, false, fmt.Errorf("set up host on %q: %w", req.ProviderName, err)
			}
			return h, false, nil
		}
		for _, dh := range hosts {
			if req.HostName != "" && dh.Name != req.HostName {
				continue
			}
			h, err := prov.ConnectHost(ctx, dh.ID)
			if errors.Is(err, ErrHostOffline) {
				if hs, ok := prov.(HostStopper); ok {
					done := ProgressFrom(ctx).Step("starting host " + dh.Name)
					h, err = hs.StartHost(ctx, dh.ID)
					done(err)
					if err == nil {
						StartBootAgents(ctx, h, "")
					}
				}
			}
			if err != nil {
				return nil, false, fmt.Errorf("connect host %q: %w", dh.Name, err)
			}
			return h, false, nil
		}
		// NAME@HOST.PROVIDER names a new host when HOST does not exist yet;
		// --host always means an existing one.
		if shared || req.HostMustExist {
			return nil, false, WithHint(fmt.Errorf("host %q not found on provider %q: %w", req.HostName, req.ProviderName, ErrNotFound),
				"run 'mngr list' to see hosts, or leave out --host to create a new one")
		}
	}
	hr := req.NewHost
	hr.Name = req.HostName
	if hr.Name == "" {
		hr.Name = req.Agent.Name + "-host"
	}
	if hr.Tags == nil {
		hr.Tags = map[string]string{}
	}
	done := ProgressFrom(ctx).Step("creating host on " + req.ProviderName)
	h, err := prov.CreateHost(ctx, hr)
	done(err)
	if err != nil {
		return nil, false, fmt.Errorf("create host on %q: %w", req.ProviderName, err)
	}
	return h, true, nil
}

// checkAgentCLI refuses an agent type whose CLI (claude, codex) the host
// does not have, on a host where mngr does not install it (this machine):
// before anything is transferred or made. PATH from the agent's --env, if
// any, is the one searched.
func checkAgentCLI(ctx context.Context, h *Host, spec AgentSpec) error {
	cli := requiredCLI(spec.Type)
	if cli == "" || h.Remote {
		return nil
	}
	script := "command -v " + ShellQuote(cli) + " >/dev/null"
	for _, kv := range spec.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			script = "PATH=" + ShellQuote(v) + "; " + script
		}
	}
	res, err := h.run(ctx, "look for "+cli, script)
	if err != nil {
		return fmt.Errorf("look for the %s CLI on host %q: %w", cli, h.Name, err)
	}
	if !res.OK() {
		return WithHint(fmt.Errorf("agent type %s needs the %s CLI, which is not installed on host %q (not on PATH): %w", spec.Type, cli, h.Name, ErrUnavailable),
			"install it (npm install -g %s), or create the agent with --type command", agentCLIPackage(spec.Type))
	}
	return nil
}

// ReuseResult is what create --reuse did with an existing agent.
type ReuseResult struct {
	// Started says the agent was not running and was started.
	Started bool
	// Mismatches name what the create asked for that the kept agent does
	// not have (it is not changed).
	Mismatches []string
}

// ReuseAgent keeps the existing agent ref for a create that asked for
// spec: it starts it when it is not running (its host too, when the
// provider can), and lists what differs from spec.
// ref.Online is the agent's host afterwards.
func ReuseAgent(ctx context.Context, ref *AgentRef, spec AgentSpec) (ReuseResult, error) {
	res := ReuseResult{Mismatches: reuseMismatches(ref.Record, spec)}
	if ref.State.Running() && ref.Online != nil {
		return res, nil
	}
	refs := []AgentRef{*ref}
	rep := StartAgents(ctx, refs, StartOptions{})
	if len(rep.Failures) > 0 {
		f := rep.Failures[0]
		return res, WithHint(fmt.Errorf("reuse agent %q: %s", ref.Record.Name, f.Message), "%s", firstNonEmptyString(f.Hint, "start it with: mngr start "+ref.Record.Name))
	}
	*ref = refs[0]
	res.Started = true
	return res, nil
}

// ReuseMismatches names each option of spec the agent rec was not made
// with (create --reuse keeps the agent as it is and warns of them).
func ReuseMismatches(rec AgentRecord, spec AgentSpec) []string { return reuseMismatches(rec, spec) }

// reuseMismatches names each option of spec the agent rec was not made
// with.
func reuseMismatches(rec AgentRecord, spec AgentSpec) []string {
	var out []string
	if spec.Type != "" && spec.Type != rec.Type {
		out = append(out, fmt.Sprintf("type %s (the agent's is %s)", spec.Type, rec.Type))
	}
	if spec.Command != "" && spec.Command != rec.Command {
		out = append(out, fmt.Sprintf("command %q (the agent runs %q)", spec.Command, rec.Command))
	}
	if spec.WorkDir != "" && spec.WorkDir != rec.WorkDir {
		out = append(out, fmt.Sprintf("work dir %s (the agent's is %s)", spec.WorkDir, rec.WorkDir))
	}
	for _, k := range sortedMapKeys(spec.Labels) {
		if v, ok := rec.Labels[k]; !ok || v != spec.Labels[k] {
			out = append(out, fmt.Sprintf("label %s=%s (the agent has %q)", k, spec.Labels[k], v))
		}
	}
	if len(spec.Env) > 0 {
		out = append(out, "--env (the agent keeps its environment)")
	}
	if len(spec.Windows) > 0 {
		out = append(out, "--extra-window (the agent keeps its windows)")
	}
	if len(spec.Uploads)+len(spec.ProvisionCommands) > 0 {
		out = append(out, "--upload-file/--extra-provision-command (not run for a kept agent)")
	}
	return out
}

func sortedMapKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func firstNonEmptyString(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
