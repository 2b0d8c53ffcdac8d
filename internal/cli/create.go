package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/config"
	"github.com/mngr-azure/mngr/internal/core"
)

type createOptions struct {
	f *Factory

	Address   string
	Type      string
	Name      string
	Provider  string
	HostName  string
	Command   string
	AgentArgs []string
	BuildArgs []string
	StartArgs []string
	Labels    []string
	Env       []string
	EnvFiles  []string
	WorkDir   string
	Connect   bool
	NoConnect bool
	DryRun    bool
	// Project is the agent's "project" label (default: from the source).
	Project string
	// ShowCloudInit prints the cloud-init user data in a human --dry-run.
	ShowCloudInit bool

	Transfer      string
	Source        string
	Branch        string
	EnsureClean   bool
	NoEnsureClean bool
	Excludes      []string
	PassEnv       []string
	Message       string
	MessageFile   string
	// CopyClaudeCredentials is --copy-claude-credentials.
	CopyClaudeCredentials bool
	// Idle are the host's idle-policy flags (idleflags.go).
	Idle idleFlags

	// Templates are -t/--template, applied in order before run (flagdefaults.go).
	Templates []string
	// Reuse keeps an existing agent of the name instead of failing.
	Reuse bool
	// Per-create set-up (core/setup.go).
	ProvisionCommands   []string
	Uploads             []string
	PostHostCreate      []string
	PostHostCreateOuter []string
	HostEnv             []string
	HostEnvFiles        []string
	PassHostEnv         []string
	Windows             []string

	connectFn func(argv []string) error
}

func newCmdCreate(f *Factory, runF func(*createOptions) error) *cobra.Command {
	opts := &createOptions{f: f}
	cmd := &cobra.Command{
		Use:     "create [NAME][@[HOST][.PROVIDER]][:PATH] [TYPE] [flags] [-- AGENT_ARGS...]",
		Aliases: []string{"c"},
		Short:   "Create an agent and start it",
		Long: `Create an agent and start it in tmux session <prefix><name>.

The agent type comes from --type, else the positional TYPE, else the setting
commands.create.type. On the local provider the agent runs on this machine; on
any other provider each create makes a new host unless --host names an
existing one. By default create connects to the agent only when stdout is a
terminal and --format is human; --no-connect (or a pipe) skips that.

The agent works on your project: create transfers the git root of the
current directory (or the directory itself outside git; --source DIR picks
another) into the agent's work dir. On this machine a git repository becomes
a git worktree on a new branch mngr/<name>; on a remote host (Azure) the base
commit is pushed over the agent's SSH (pinned host key) into a new repository
there, checked out on that branch; a plain directory is copied with rsync
(caches such as node_modules and .venv, .gitignore'd files and --exclude
patterns left out). --transfer none runs the agent in place (on a remote
host: in a new empty directory). A tree with uncommitted changes is refused
unless --no-ensure-clean, which carries them over uncommitted. Bring the
agent's commits back with 'mngr git pull NAME'.

--dry-run prints what a create would make (cloud resources with their
region, size, Spot flag and tags, and an hourly price estimate) and changes
nothing: no cloud write, no VM, no local key, known_hosts or state file.
--show-cloud-init adds the cloud-init user data the VM would get (always in
the json, as user_data).`,
		Example: `  # An agent on this machine, in tmux
  mngr create my-agent claude

  # A Claude agent on a new Azure VM, without attaching to it
  mngr create my-agent claude --provider azure --no-connect

  # Fail over across sizes and regions when Azure has no capacity or quota
  mngr create my-agent --provider azure -b --azure-vm-size=Standard_D2s_v5,Standard_D2as_v5,Standard_B2s

  # See what would be created, and its estimated price, without creating anything
  mngr create my-agent --provider azure -b --azure-vm-size=Standard_D4s_v5 -b --azure-spot --dry-run
  mngr create my-agent --provider azure --dry-run --format json

  # An agent on your repository, on a new Azure VM, on branch mngr/fixer
  cd ~/src/myproject && mngr create fixer claude --provider azure --pass-env ANTHROPIC_API_KEY

  # Start from another base branch, into a branch of your choice
  mngr create fixer claude --branch develop:feature/fixer

  # A second agent on an existing host, with a label and an env file
  mngr create helper --host my-agent-host --provider azure --label team=infra --env-file .env

  # Options from the [create_templates.big] and [create_templates.web] tables of your settings
  mngr create fixer claude -t big -t web

  # Prepare the new VM and the agent's container before the agent starts
  mngr create api claude --provider azure --post-host-create-outer-command 'apt-get install -y jq' \
    --host-env NODE_ENV=development --upload-file ~/.npmrc:/root/.npmrc \
    --extra-provision-command 'npm ci' -w server='npm run dev'

  # Run the same create again: the existing agent is kept (and started when stopped)
  mngr create fixer claude --reuse --no-connect`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pos := args
			if n := cmd.ArgsLenAtDash(); n >= 0 {
				pos, opts.AgentArgs = args[:n], args[n:]
			}
			if len(pos) > 2 {
				return usageErrorf("create takes at most two arguments, ADDRESS and TYPE (got %d); put agent arguments after --", len(pos))
			}
			if len(pos) > 0 {
				opts.Address = pos[0]
				if strings.TrimSpace(pos[0]) == "" {
					// An empty name is a mistake (an unset variable), not a
					// request for a generated one.
					return core.ValidateName("agent", "")
				}
			}
			if cmd.Flags().Changed("name") && opts.Name == "" {
				return core.ValidateName("agent", "")
			}
			if len(pos) > 1 {
				if opts.Type != "" && opts.Type != pos[1] && f.flagGiven("type") {
					return usageErrorf("type given twice: --type %s and %s", opts.Type, pos[1])
				}
				opts.Type = pos[1]
			}
			if runF != nil {
				return runF(opts)
			}
			return runCreate(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Type, "type", "", "agent type (command, claude, codex, or one from [agent_types])")
	fl.StringVar(&opts.Name, "name", "", "agent name (instead of the positional address)")
	fl.StringVar(&opts.Provider, "provider", "", "provider instance (default local)")
	fl.StringVar(&opts.HostName, "host", "", "existing host to create the agent on")
	fl.StringVar(&opts.Command, "command", "", "command to run instead of the type's command")
	fl.StringArrayVarP(&opts.BuildArgs, "build-arg", "b", nil, "argument passed verbatim to the provider when building the host (repeatable)")
	fl.StringArrayVarP(&opts.StartArgs, "start-arg", "s", nil, "argument passed verbatim to the provider when starting the host (repeatable)")
	fl.StringArrayVar(&opts.Labels, "label", nil, "label K=V (repeatable)")
	fl.StringArrayVar(&opts.Env, "env", nil, "environment variable K=V for the agent (repeatable)")
	fl.StringArrayVar(&opts.EnvFiles, "env-file", nil, "file of K=V lines for the agent's environment (repeatable)")
	fl.StringVar(&opts.WorkDir, "work-dir", "", "run the agent in this directory instead of a new one")
	fl.BoolVar(&opts.Connect, "connect", false, "connect to the agent after creating it")
	fl.BoolVar(&opts.NoConnect, "no-connect", false, "do not connect to the agent after creating it")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "print what would be created (resources, tags, price estimate) and change nothing")
	fl.StringVar(&opts.Project, "project", "", "the agent's project (label project; default: the origin remote's repository name, else the project folder's name)")
	fl.BoolVar(&opts.ShowCloudInit, "show-cloud-init", false, "with --dry-run: also print the cloud-init user data")
	fl.StringVar(&opts.Transfer, "transfer", "", "how the project reaches the work dir: none, rsync, git-mirror or git-worktree (default: git-worktree on this machine, git-mirror on a remote host, rsync outside git)")
	fl.StringVar(&opts.Source, "source", "", "project directory to transfer (default: the git root of the current directory, else the current directory)")
	fl.StringVar(&opts.Branch, "branch", "", "the agent's branch, [BASE][:NEW] (default: the current branch, and mngr/<name>)")
	fl.BoolVar(&opts.EnsureClean, "ensure-clean", true, "refuse a project with uncommitted changes")
	fl.BoolVar(&opts.NoEnsureClean, "no-ensure-clean", false, "carry uncommitted changes into the work dir, uncommitted")
	fl.StringArrayVar(&opts.Excludes, "exclude", nil, "rsync exclude pattern for the copy (repeatable)")
	fl.StringVarP(&opts.Message, "message", "m", "", "send this message to the agent once it is ready (agent_ready_timeout)")
	fl.StringVar(&opts.MessageFile, "message-file", "", "send the contents of this file (- for stdin) to the agent once it is ready")
	fl.BoolVar(&opts.CopyClaudeCredentials, "copy-claude-credentials", false, "copy your claude login (~/.claude/.credentials.json) into a remote claude agent (default: claude_copy_credentials)")
	fl.StringArrayVar(&opts.PassEnv, "pass-env", nil, "copy this variable from your environment into the agent's (repeatable; for credentials such as ANTHROPIC_API_KEY)")
	fl.StringArrayVarP(&opts.Templates, "template", "t", nil, "apply the settings' [create_templates.NAME] (repeatable, in order: a later one wins; flags you type win over all)")
	fl.BoolVar(&opts.Reuse, "reuse", false, "when an agent of this name exists, keep it (starting it if stopped) instead of failing")
	fl.StringArrayVar(&opts.ProvisionCommands, "extra-provision-command", nil, "shell command run in the agent's work dir, with its environment, before it starts (repeatable, in order; one that fails stops the create)")
	fl.StringArrayVar(&opts.Uploads, "upload-file", nil, "copy a file or directory of this machine into the agent's host before it starts: LOCAL:REMOTE (repeatable; a relative REMOTE is under the work dir)")
	fl.StringArrayVar(&opts.PostHostCreate, "post-host-create-command", nil, "shell command run once inside a new host, right after it is made (repeatable; not run on an existing host)")
	fl.StringArrayVar(&opts.PostHostCreateOuter, "post-host-create-outer-command", nil, "shell command run once as root on a new host's VM, outside its container (repeatable; skipped with a warning where there is no VM, as on the local provider)")
	fl.StringArrayVar(&opts.HostEnv, "host-env", nil, "environment variable K=V for the host: every agent on it loads it (repeatable)")
	fl.StringArrayVar(&opts.HostEnvFiles, "host-env-file", nil, "file of K=V lines for the host's environment (repeatable)")
	fl.StringArrayVar(&opts.PassHostEnv, "pass-host-env", nil, "copy this variable from your environment into the host's (repeatable)")
	fl.StringArrayVarP(&opts.Windows, "extra-window", "w", nil, `another tmux window beside the agent's: NAME=COMMAND (repeatable), for example -w server="npm run dev"`)
	addIdleFlags(fl, &opts.Idle, false)
	return cmd
}

// createPlan is the validated request, before anything is changed.
type createPlan struct {
	provider string
	hostName string
	// target is :PATH of the address.
	target string
	// message is sent to the agent once it is ready.
	message string
	spec    core.AgentSpec
	// hostEnv goes into the host's env file; the post-host-create commands
	// run on a new host only.
	hostEnv             []string
	postHostCreate      []string
	postHostCreateOuter []string
}

func planCreate(opts *createOptions, cfg *config.Config) (createPlan, error) {
	var pl createPlan
	addr, err := parseAddress(opts.Address, true)
	if err != nil {
		return pl, err
	}
	name := addr.Name
	if opts.Name != "" {
		if name != "" && name != opts.Name {
			return pl, core.WithHint(fmt.Errorf("agent name given twice: %q and --name %q: %w", name, opts.Name, core.ErrInvalidInput), "give the name once")
		}
		name = opts.Name
	}
	agentType := opts.Type
	if agentType == "" {
		agentType = cfg.CreateType()
	}
	if agentType == "" {
		return pl, core.WithHint(fmt.Errorf("no agent type provided: %w", core.ErrInvalidInput),
			"pass --type (command, claude, codex), or set a default with: mngr config set commands.create.type <name> --scope user")
	}
	if name == "" {
		name = agentType + "-" + strings.TrimPrefix(string(core.NewAgentID()), "agent-")[:6]
	}
	if err := core.ValidateName("agent", name); err != nil {
		return pl, err
	}
	pl.provider = firstNonEmpty(opts.Provider, addr.Provider, "local")
	if opts.Provider != "" && addr.Provider != "" && opts.Provider != addr.Provider {
		return pl, core.WithHint(fmt.Errorf("provider given twice: %q and --provider %q: %w", addr.Provider, opts.Provider, core.ErrInvalidInput), "give the provider once")
	}
	pl.hostName = firstNonEmpty(opts.HostName, addr.Host)
	if pl.hostName != "" {
		if err := core.ValidateName("host", pl.hostName); err != nil {
			return pl, err
		}
	}
	types := map[string]core.AgentTypeConfig{}
	for n, t := range cfg.AgentTypes {
		types[n] = core.AgentTypeConfig{Command: t.Command, CLIArgs: t.CLIArgs}
	}
	command, err := core.ResolveAgentCommand(agentType, opts.Command, opts.AgentArgs, types)
	if err != nil {
		return pl, err
	}
	labels, err := parseKV(opts.Labels, "--label")
	if err == nil {
		err = core.ValidateLabels(labels)
	}
	if err != nil {
		return pl, err
	}
	var env []string
	for _, file := range opts.EnvFiles {
		lines, err := readEnvFile(file)
		if err != nil {
			return pl, err
		}
		env = append(env, lines...)
	}
	if _, err := parseKV(opts.Env, "--env"); err != nil {
		return pl, err
	}
	env = append(env, opts.Env...)
	for _, name := range opts.PassEnv {
		v := opts.f.Env().Getenv(name)
		if v == "" {
			return pl, core.WithHint(fmt.Errorf("--pass-env %s: %s is not set (or empty) in your environment: %w", name, name, core.ErrInvalidInput),
				"export %s first, or leave out --pass-env %s", name, name)
		}
		env = append(env, name+"="+v)
	}
	pl.target = addr.Path
	if opts.Message != "" && opts.MessageFile != "" {
		return pl, core.WithHint(fmt.Errorf("message given twice: --message and --message-file: %w", core.ErrInvalidInput), "give one of them")
	}
	pl.message = opts.Message
	if opts.MessageFile != "" {
		b, err := messageText(&messageOptions{f: opts.f, MessageFile: opts.MessageFile})
		if err != nil {
			return pl, err
		}
		pl.message = b
	}
	pl.spec = core.AgentSpec{ReadyTimeoutSeconds: cfg.AgentReadyTimeout.Seconds(),
		Name: name, Type: agentType, Command: command, WorkDir: opts.WorkDir, Env: env, Labels: labels,
		TmuxWidth: 200, TmuxHeight: 50,
		CopyClaudeCredentials: opts.CopyClaudeCredentials || cfg.ClaudeCopyCredentials,
	}
	if err := planSetup(opts, &pl); err != nil {
		return pl, err
	}
	return pl, nil
}

// planSetup checks the per-create set-up flags and puts them in the plan.
func planSetup(opts *createOptions, pl *createPlan) error {
	for _, flagCmds := range []struct {
		flag string
		cmds []string
	}{{"--extra-provision-command", opts.ProvisionCommands}, {"--post-host-create-command", opts.PostHostCreate}, {"--post-host-create-outer-command", opts.PostHostCreateOuter}} {
		for _, c := range flagCmds.cmds {
			if strings.TrimSpace(c) == "" {
				return core.WithHint(fmt.Errorf("%s is empty: %w", flagCmds.flag, core.ErrInvalidInput), "give a shell command, for example %s 'apt-get install -y jq'", flagCmds.flag)
			}
		}
	}
	pl.spec.ProvisionCommands = opts.ProvisionCommands
	pl.postHostCreate, pl.postHostCreateOuter = opts.PostHostCreate, opts.PostHostCreateOuter
	for _, u := range opts.Uploads {
		up, err := core.ParseUpload(expandTilde(u))
		if err != nil {
			return err
		}
		pl.spec.Uploads = append(pl.spec.Uploads, up)
	}
	seen := map[string]bool{}
	for _, w := range opts.Windows {
		name, command, ok := strings.Cut(w, "=")
		if !ok || strings.TrimSpace(command) == "" {
			return core.WithHint(fmt.Errorf("invalid --extra-window %q: %w", core.Printable(w), core.ErrInvalidInput),
				`write -w NAME=COMMAND, for example -w server="npm run dev"`)
		}
		if err := core.ValidateName("window", name); err != nil {
			return fmt.Errorf("--extra-window: %w", err)
		}
		if seen[name] {
			return core.WithHint(fmt.Errorf("--extra-window %s given twice: %w", name, core.ErrInvalidInput), "give each window its own name")
		}
		seen[name] = true
		pl.spec.Windows = append(pl.spec.Windows, core.WindowCommand{WindowName: name, Command: command})
	}
	for _, file := range opts.HostEnvFiles {
		lines, err := readEnvFile(file)
		if err != nil {
			return fmt.Errorf("--host-env-file: %w", err)
		}
		pl.hostEnv = append(pl.hostEnv, lines...)
	}
	pl.hostEnv = append(pl.hostEnv, opts.HostEnv...)
	for _, name := range opts.PassHostEnv {
		v := opts.f.Env().Getenv(name)
		if v == "" {
			return core.WithHint(fmt.Errorf("--pass-host-env %s: %s is not set (or empty) in your environment: %w", name, name, core.ErrInvalidInput),
				"export %s first, or leave out --pass-host-env %s", name, name)
		}
		pl.hostEnv = append(pl.hostEnv, name+"="+v)
	}
	if err := core.CheckEnv(pl.hostEnv); err != nil {
		return fmt.Errorf("host env: %w", err)
	}
	return nil
}

// expandTilde turns a leading ~/ of an --upload-file's local path into the
// home directory (a quoted or templated ~ reaches mngr unexpanded).
func expandTilde(s string) string {
	if rest, ok := strings.CutPrefix(s, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return s
}

func runCreate(ctx context.Context, opts *createOptions) error {
	f := opts.f
	cfg, err := f.Config()
	if err != nil {
		return err
	}
	pl, err := planCreate(opts, cfg)
	if err != nil {
		return err
	}
	if opts.Reuse && !opts.DryRun {
		if reused, err := reuseAgent(ctx, opts, pl); reused || err != nil {
			return err
		}
	}
	if opts.Reuse && opts.DryRun {
		if found, err := reuseDryRun(ctx, opts, pl); found || err != nil {
			return err
		}
	}
	prov, err := f.Provider(ctx, pl.provider)
	if err != nil {
		return err
	}
	caps := core.CapabilitiesOf(prov)
	// Everything the user asked for is checked before anything is made.
	tr, err := planTransfer(ctx, opts, cfg, pl, caps)
	if err != nil {
		return err
	}
	if err := setProject(ctx, opts, &pl, tr); err != nil {
		return err
	}
	idle, err := opts.Idle.change()
	if err != nil {
		return err
	}
	if !idle.Empty() {
		warnIdleNotEnforced(ctx, prov, pl.provider)
	}
	if opts.DryRun {
		return runCreateDryRun(ctx, opts, prov, pl, tr)
	}
	req := core.CreateRequest{
		Provider: prov, ProviderName: pl.provider, HostName: pl.hostName, HostMustExist: opts.HostName != "",
		NewHost: core.CreateHostRequest{BuildArgs: opts.BuildArgs, StartArgs: opts.StartArgs, Idle: idle,
			PostCreateCommands: pl.postHostCreate, OuterCommands: pl.postHostCreateOuter, AgentType: pl.spec.Type},
		Agent: pl.spec, Transfer: tr, Message: pl.message, ConfirmTimeout: cfg.MessageConfirmTimeout,
		HostEnv: pl.hostEnv,
	}
	req.Progress = toolProgress(f)
	res, err := core.Create(ctx, req)
	if err != nil {
		return err
	}
	host, rec := res.Host, res.Agent
	newAgentOrigins(f).put(ctx, pl.provider, rec)
	if res.Endpoint != nil {
		newAgentCache(f).put(cachedAgent{Provider: pl.provider, HostName: host.Name, Record: rec, Endpoint: *res.Endpoint})
	}
	result := createResult{AgentName: rec.Name, AgentID: rec.ID, HostID: host.ID, HostName: host.Name, WorkDir: rec.WorkDir,
		Transfer: rec.Transfer, Branch: rec.CreatedBranchName, BaseBranch: rec.BaseBranch, Source: rec.SourcePath}
	if pl.message != "" {
		result.MessageConfirmed = &res.Delivery.Confirmed
		result.MessageEvidence = res.Delivery.Evidence
	}
	return emitCreated(opts, pl, caps, host, rec, result, res.Delivery)
}

// emitCreated prints create's result for the agent rec on host, then
// connects to the agent when asked to (or by default on a terminal).
func emitCreated(opts *createOptions, pl createPlan, caps core.Capabilities, host *core.Host, rec core.AgentRecord, result createResult, delivery core.Delivery) error {
	f := opts.f
	format := f.Format()
	if host.SSH != nil {
		result.SSHUser, result.SSHHost, result.SSHPort, result.SSHKeyPath = host.SSH.User, host.SSH.Host, host.SSH.Port, host.SSH.KeyPath
	}
	connect := !opts.NoConnect && (opts.Connect || (f.IO.OutIsTerminal && format == FormatHuman))
	if err := Emit(f.IO, format, func(w io.Writer) error {
		if connect {
			return nil
		}
		var b strings.Builder
		switch {
		case result.Reused && result.Started:
			fmt.Fprintf(&b, "Kept the existing agent %s (%s) on host %s [%s], and started it.\n", rec.Name, rec.ID, host.Name, pl.provider)
		case result.Reused:
			fmt.Fprintf(&b, "Kept the existing agent %s (%s) on host %s [%s]; it was already running.\n", rec.Name, rec.ID, host.Name, pl.provider)
		default:
			fmt.Fprintf(&b, "Created agent %s (%s) on host %s [%s].\n", rec.Name, rec.ID, host.Name, pl.provider)
		}
		if rec.CreatedBranchName != "" && !f.Quiet() && !result.Reused {
			fmt.Fprintf(&b, "It works on branch %s in %s; bring its commits back with: mngr git pull %s\n", rec.CreatedBranchName, rec.WorkDir, rec.Name)
		}
		if pl.message != "" && !f.Quiet() {
			fmt.Fprintf(&b, "Its first message was confirmed (seen in its %s).\n", delivery.Evidence)
		}
		_, err := io.WriteString(w, b.String())
		return err
	}, result, []any{createdEvent{Event: "created", createResult: result}}); err != nil {
		return err
	}
	if !connect {
		return nil
	}
	argv := host.Exec.InteractiveArgv(core.AttachScript(host, host.Prefix(), rec))
	if opts.connectFn != nil {
		return opts.connectFn(argv)
	}
	return execArgv(argv, caps.HostIsThisMachine)
}

// createResult is create's JSON result.
type createResult struct {
	AgentName  string            `json:"agent_name"`
	AgentID    core.AgentID      `json:"agent_id"`
	HostID     core.HostID       `json:"host_id"`
	HostName   string            `json:"host_name"`
	WorkDir    string            `json:"work_dir"`
	Source     string            `json:"source,omitempty"`
	Transfer   core.TransferMode `json:"transfer,omitempty"`
	Branch     string            `json:"branch,omitempty"`
	BaseBranch string            `json:"base_branch,omitempty"`
	SSHUser    string            `json:"ssh_user,omitempty"`
	SSHHost    string            `json:"ssh_host,omitempty"`
	SSHPort    int               `json:"ssh_port,omitempty"`
	SSHKeyPath string            `json:"ssh_key_path,omitempty"`
	// MessageConfirmed is set when create sent a first message.
	MessageConfirmed *bool  `json:"message_confirmed,omitempty"`
	MessageEvidence  string `json:"message_evidence,omitempty"`
	// Reused says create --reuse kept an existing agent; Started that it
	// was started then.
	Reused  bool `json:"reused,omitempty"`
	Started bool `json:"started,omitempty"`
}

// reuseAgent keeps the agent the create names when it exists (create
// --reuse): it is started when stopped, and what differs from the create's
// options is warned about. reused is false when there is no such agent.
func reuseAgent(ctx context.Context, opts *createOptions, pl createPlan) (reused bool, err error) {
	ref, found, err := existingAgent(ctx, opts.f, pl)
	if !found || err != nil {
		return found, err
	}
	res, err := core.ReuseAgent(ctx, &ref, pl.spec)
	if err != nil {
		return true, err
	}
	prog := core.ProgressFrom(ctx)
	for _, m := range res.Mismatches {
		prog.Warn(fmt.Sprintf("agent %s exists and is kept as it is: it was not made with %s", ref.Record.Name, m))
	}
	host := ref.Online
	if host == nil {
		return true, fmt.Errorf("create --reuse: agent %q: host %q: %w", ref.Record.Name, ref.Host.Name, core.ErrHostOffline)
	}
	rec := ref.Record
	result := createResult{AgentName: rec.Name, AgentID: rec.ID, HostID: host.ID, HostName: host.Name, WorkDir: rec.WorkDir,
		Transfer: rec.Transfer, Branch: rec.CreatedBranchName, BaseBranch: rec.BaseBranch, Source: rec.SourcePath,
		Reused: true, Started: res.Started}
	return true, emitCreated(opts, pl, core.CapabilitiesOf(ref.Provider), host, rec, result, core.Delivery{})
}

// existingAgent finds the agent a create --reuse names; found is false
// when no provider has it (and every provider answered).
func existingAgent(ctx context.Context, f *Factory, pl createPlan) (ref core.AgentRef, found bool, err error) {
	all, gerrs, err := gatherAgents(ctx, f, []string{pl.provider}, func(string) {})
	if err != nil {
		return core.AgentRef{}, false, err
	}
	ref, err = matchAddress(all, gerrs, address{Name: pl.spec.Name, Host: pl.hostName, Provider: pl.provider})
	if errors.Is(err, core.ErrNotFound) && len(gerrs) == 0 {
		return core.AgentRef{}, false, nil
	}
	if err != nil {
		return core.AgentRef{}, true, fmt.Errorf("create --reuse: look for agent %q: %w", pl.spec.Name, err)
	}
	return ref, true, nil
}

// reusePlan is what create --reuse --dry-run says of an agent that exists.
type reusePlan struct {
	DryRun     bool            `json:"dry_run"`
	Reused     bool            `json:"reused"`
	AgentName  string          `json:"agent_name"`
	AgentID    core.AgentID    `json:"agent_id"`
	HostName   string          `json:"host_name"`
	Provider   string          `json:"provider_name"`
	State      core.AgentState `json:"state"`
	WouldStart bool            `json:"would_start"`
	// Mismatches are the create's options the kept agent was not made with.
	Mismatches []string `json:"mismatches"`
}

// reuseDryRun says what create --reuse would do with the agent of the
// create's name when it exists (keep it, start it if it is not running,
// and which options it ignores), changing nothing; found is false when no
// such agent exists (the dry run of a create follows).
func reuseDryRun(ctx context.Context, opts *createOptions, pl createPlan) (found bool, err error) {
	f := opts.f
	ref, found, err := existingAgent(ctx, f, pl)
	if !found || err != nil {
		return found, err
	}
	plan := reusePlan{DryRun: true, Reused: true, AgentName: ref.Record.Name, AgentID: ref.Record.ID, HostName: ref.Host.Name,
		Provider: ref.ProviderName, State: ref.State, WouldStart: !ref.State.Running() || ref.Online == nil,
		Mismatches: core.ReuseMismatches(ref.Record, pl.spec)}
	if plan.Mismatches == nil {
		plan.Mismatches = []string{}
	}
	return true, Emit(f.IO, f.Format(), func(w io.Writer) error {
		var b strings.Builder
		fmt.Fprintf(&b, "Dry run: nothing was changed. Agent %s exists on host %s [%s] (%s): --reuse would keep it", plan.AgentName, plan.HostName, plan.Provider, plan.State)
		if plan.WouldStart {
			b.WriteString(" and start it")
		}
		b.WriteString("\n")
		for _, m := range plan.Mismatches {
			fmt.Fprintf(&b, "Note: it was not made with %s; it would be kept as it is\n", m)
		}
		_, err := io.WriteString(w, b.String())
		return err
	}, plan, []any{map[string]any{"event": "reuse_planned", "plan": plan}})
}

// createdEvent is create's jsonl event.
type createdEvent struct {
	Event string `json:"event"`
	createResult
}

// setProject sets the agent's project label: --project, else a project
// --label, else the name of the source's repository or folder.
func setProject(ctx context.Context, opts *createOptions, pl *createPlan, tr *core.Transfer) error {
	if pl.spec.Labels == nil {
		pl.spec.Labels = map[string]string{}
	}
	if opts.Project != "" {
		if v, ok := pl.spec.Labels["project"]; ok && v != opts.Project {
			return core.WithHint(fmt.Errorf("project given twice: --project %q and --label project=%s: %w", opts.Project, v, core.ErrInvalidInput), "give it once")
		}
		if err := core.ValidateLabel("project", opts.Project); err != nil {
			return fmt.Errorf("--project: %w", err)
		}
		pl.spec.Labels["project"] = opts.Project
		return nil
	}
	if _, ok := pl.spec.Labels["project"]; ok {
		return nil
	}
	dir := ""
	if tr != nil {
		dir = tr.Source.Dir
	}
	if opts.WorkDir != "" {
		dir = opts.WorkDir
	}
	if dir == "" {
		var err error
		if dir, err = opts.f.Getwd(); err != nil {
			return fmt.Errorf("find the current directory: %w", err)
		}
	}
	if name := core.ProjectName(ctx, dir); name != "" && name != "/" && name != "." {
		pl.spec.Labels["project"] = name
	}
	return nil
}

// planTransfer checks --transfer, --source, --branch and the address's
// :PATH against the project and the provider, before anything is made.
func planTransfer(ctx context.Context, opts *createOptions, cfg *config.Config, pl createPlan, caps core.Capabilities) (*core.Transfer, error) {
	modeFlag := opts.Transfer
	if modeFlag == "" {
		modeFlag = cfg.CommandDefault("create", "transfer")
	}
	mode, err := core.ParseTransferMode(modeFlag)
	if err != nil {
		return nil, err
	}
	target := pl.target
	if opts.WorkDir != "" {
		if mode != "" && mode != core.TransferNone {
			return nil, core.WithHint(fmt.Errorf("--work-dir runs the agent in an existing directory, and --transfer %s copies into a new one: %w", mode, core.ErrInvalidInput),
				"use NAME:PATH to choose where the copy goes, or leave out --transfer")
		}
		if target != "" {
			return nil, core.WithHint(fmt.Errorf("work dir given twice: :%s and --work-dir %s: %w", target, opts.WorkDir, core.ErrInvalidInput), "give it once")
		}
		mode, target = core.TransferNone, opts.WorkDir
	}
	srcDir := opts.Source
	if srcDir == "" {
		if srcDir, err = opts.f.Getwd(); err != nil {
			return nil, fmt.Errorf("find the current directory: %w", err)
		}
	}
	src := core.Source{Dir: srcDir}
	if opts.Source != "" || mode != core.TransferNone {
		if src, err = core.FindSource(ctx, srcDir); err != nil {
			return nil, err
		}
	}
	excludes := opts.Excludes
	// mngr's own directory (keys, known_hosts, agent state) never travels
	// with a project that happens to contain it, such as a home directory.
	if rel, err := filepath.Rel(src.Dir, opts.f.Env().HostDir); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
		excludes = append(excludes, "/"+filepath.ToSlash(rel))
	}
	return core.PlanTransfer(ctx, core.TransferRequest{
		Mode: mode, Source: src, Branch: opts.Branch, AgentName: pl.spec.Name, Target: target,
		EnsureClean: opts.EnsureClean && !opts.NoEnsureClean, Excludes: excludes,
		HostIsThisMachine: caps.HostIsThisMachine,
	})
}

func parseKV(items []string, flag string) (map[string]string, error) {
	out := map[string]string{}
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		if !ok || k == "" {
			return nil, core.WithHint(fmt.Errorf("invalid %s %q: %w", flag, it, core.ErrInvalidInput), "write %s KEY=VALUE", flag)
		}
		out[k] = v
	}
	return out, nil
}

func readEnvFile(path string) ([]string, error) {
	fh, err := os.Open(path) //nolint:gosec // G304: the user names the env file to read.
	if err != nil {
		return nil, core.WithHint(fmt.Errorf("read env file: %w: %w", err, core.ErrInvalidInput), "check the --env-file path")
	}
	defer func() { _ = fh.Close() }()
	var out []string
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return nil, core.WithHint(fmt.Errorf("env file %s line %d: not KEY=VALUE: %w", path, n, core.ErrInvalidInput), "fix line %d of %s", n, path)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out = append(out, k+"="+v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read env file %s: %w", path, err)
	}
	return out, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// runCreateDryRun prints what the create would make and changes nothing.
// A provider plans through core.CreatePlanner; the local provider makes
// nothing but the agent's tmux session; any other provider says it cannot.
func runCreateDryRun(ctx context.Context, opts *createOptions, prov core.Provider, pl createPlan, tr *core.Transfer) error {
	f := opts.f
	planner, ok := prov.(core.CreatePlanner)
	shared := core.CapabilitiesOf(prov).SharedHost
	switch {
	case !shared && pl.hostName != "" && opts.HostName != "":
		return core.WithHint(fmt.Errorf("--dry-run plans a new host, and --host names an existing one: %w", core.ErrInvalidInput),
			"leave out --host to see what a new host would need")
	case !ok:
		return fmt.Errorf("provider %q cannot show a create without making it: %w", pl.provider, core.ErrNotSupported)
	}
	hr := core.CreateHostRequest{Name: pl.hostName, Tags: map[string]string{}, BuildArgs: opts.BuildArgs, StartArgs: opts.StartArgs, AgentType: pl.spec.Type}
	if !shared && hr.Name == "" {
		hr.Name = pl.spec.Name + "-host"
	}
	plan, err := planner.PlanCreateHost(ctx, hr)
	if err != nil {
		return fmt.Errorf("plan create on %q: %w", pl.provider, err)
	}
	if shared {
		plan.Resources = append(plan.Resources, core.PlannedResource{Type: "tmux session", Name: f.Env().Prefix + pl.spec.Name})
	}
	if tr != nil && tr.Mode != core.TransferNone {
		note := fmt.Sprintf("the project %s would be transferred by %s", tr.Source.Dir, tr.Mode)
		if tr.NewBranch != "" {
			note += fmt.Sprintf(", the agent working on a new branch %s from %s", tr.NewBranch, firstNonEmpty(tr.BaseBranch, tr.BaseCommit))
		}
		plan.Notes = append(plan.Notes, note)
	}
	plan.Notes = append(plan.Notes, setupNotes(prov, pl, shared)...)
	if note := plannedIdlePolicy(prov, opts.Idle); note != "" {
		plan.Notes = append(plan.Notes, note)
	}
	return Emit(f.IO, f.Format(), func(w io.Writer) error { return writePlan(w, pl.spec.Name, plan, opts.ShowCloudInit) }, plan, []any{plannedEvent{Event: "planned", Plan: plan}})
}

// setupNotes says, for a dry run, what the per-create set-up would do and
// where.
func setupNotes(prov core.Provider, pl createPlan, shared bool) []string {
	var notes []string
	_, outer := prov.(core.OuterHostRunner)
	for _, c := range pl.postHostCreateOuter {
		switch {
		case shared:
			notes = append(notes, "post-host-create outer command skipped (the host already exists, and the provider has no machine outside it): "+c)
		case !outer:
			notes = append(notes, "post-host-create outer command skipped (the provider has no machine outside its hosts): "+c)
		default:
			notes = append(notes, "post-host-create outer command, run once as root on the new VM: "+c)
		}
	}
	for _, c := range pl.postHostCreate {
		if shared {
			notes = append(notes, "post-host-create command skipped (the host already exists): "+c)
			continue
		}
		notes = append(notes, "post-host-create command, run once inside the new host: "+c)
	}
	for _, kv := range pl.hostEnv {
		k, _, _ := strings.Cut(kv, "=")
		notes = append(notes, "host env "+k+" would be set (value not shown)")
	}
	for _, u := range pl.spec.Uploads {
		if u.Dir {
			notes = append(notes, fmt.Sprintf("upload directory %s (%d files, %d bytes) to %s", u.Local, u.Files, u.Bytes, u.Remote))
			continue
		}
		notes = append(notes, fmt.Sprintf("upload %s to %s", u.Local, u.Remote))
	}
	for _, c := range pl.spec.ProvisionCommands {
		notes = append(notes, "extra provision command, run in the work dir before the agent starts: "+c)
	}
	for _, w := range pl.spec.Windows {
		notes = append(notes, fmt.Sprintf("extra tmux window %s: %s", w.WindowName, w.Command))
	}
	return notes
}

// plannedEvent is create --dry-run's jsonl event.
type plannedEvent struct {
	Event string           `json:"event"`
	Plan  *core.CreatePlan `json:"plan"`
}

// writePlan renders a create plan for people.
func writePlan(w io.Writer, agent string, plan *core.CreatePlan, showCloudInit bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Dry run: nothing was created. Agent %s on host %s [%s] would need:\n", agent, plan.HostName, plan.Provider)
	for _, r := range plan.Resources {
		fmt.Fprintf(&b, "  %-40s %s", r.Type, r.Name)
		var attrs []string
		if r.Region != "" {
			attrs = append(attrs, "region "+r.Region)
		}
		if r.Size != "" {
			attrs = append(attrs, "size "+r.Size)
		}
		if r.Spot {
			attrs = append(attrs, "spot")
		}
		if len(attrs) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(attrs, ", "))
		}
		b.WriteString("\n")
	}
	if len(plan.Resources) > 0 && len(plan.Resources[0].Tags) > 0 {
		keys := make([]string, 0, len(plan.Resources[0].Tags))
		for k := range plan.Resources[0].Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		pairs := make([]string, len(keys))
		for i, k := range keys {
			pairs[i] = k + "=" + plan.Resources[0].Tags[k]
		}
		fmt.Fprintf(&b, "Tags: %s\n", strings.Join(pairs, ", "))
	}
	if plan.Estimate != "" {
		fmt.Fprintf(&b, "Price: %s\n", plan.Estimate)
	}
	for _, n := range plan.Notes {
		fmt.Fprintf(&b, "Note: %s\n", n)
	}
	if plan.UserData != "" && !showCloudInit {
		fmt.Fprintf(&b, "Cloud-init user data: %d lines (print them with --show-cloud-init)\n", strings.Count(strings.TrimSuffix(plan.UserData, "\n"), "\n")+1)
	}
	if plan.UserData != "" && showCloudInit {
		b.WriteString("Cloud-init user data:\n")
		b.WriteString(plan.UserData)
		if !strings.HasSuffix(plan.UserData, "\n") {
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
