package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

// Markers around the part of a file `mngr ssh-config` owns.
const (
	sshConfigBegin = "# BEGIN mngr"
	sshConfigEnd   = "# END mngr"
	// sshAliasSuffix ends every Host alias mngr writes.
	sshAliasSuffix = ".mngr"
)

type sshConfigOptions struct {
	f *Factory

	Agents []string
	Write  bool
	Output string
}

func newCmdSSHConfig(f *Factory, runF func(*sshConfigOptions) error) *cobra.Command {
	opts := &sshConfigOptions{f: f}
	cmd := &cobra.Command{
		Use:   "ssh-config [AGENT...]",
		Short: "Print OpenSSH config blocks (Host NAME.mngr) for agents on cloud hosts",
		Long: `Print an OpenSSH "Host <agent>.mngr" block for each agent (all agents when
none is named) whose host a plain ssh client can reach: the agent container's
sshd on the VM, mngr's container key, and the known_hosts file that pins the
container's host key (checked strictly).

Agents on the local provider, and agents whose host is stopped, are skipped
with a note on stderr.

--write keeps these blocks between "# BEGIN mngr" and "# END mngr" in
<host dir>/ssh_config (default ~/.mngr/ssh_config) and puts
"Include ~/.mngr/ssh_config" at the top of ~/.ssh/config, so "ssh NAME.mngr",
rsync, scp and editors' remote-SSH modes work. --output FILE writes the same
marked block into FILE only, for "ssh -F FILE NAME.mngr".`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeAgentNames(f, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Agents = args
			if runF != nil {
				return runF(opts)
			}
			return runSSHConfig(cmd.Context(), opts)
		},
		Example: `  # Print the Host blocks of every agent on a running cloud host
  mngr ssh-config

  # Keep them in ~/.mngr/ssh_config, included from ~/.ssh/config, then use ssh
  mngr ssh-config --write
  ssh my-agent.mngr

  # Write one agent's block into a file of its own
  mngr ssh-config my-agent --output ./ssh_config
  ssh -F ./ssh_config my-agent.mngr`,
	}
	cmd.Flags().BoolVar(&opts.Write, "write", false, "write ~/.mngr/ssh_config and include it from ~/.ssh/config")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "write the marked block into `FILE` (for ssh -F FILE)")
	return cmd
}

// sshConfigEntry is one agent's Host block.
type sshConfigEntry struct {
	Alias    string       `json:"alias"`
	Agent    string       `json:"agent"`
	AgentID  core.AgentID `json:"agent_id"`
	Host     string       `json:"host_name"`
	Provider string       `json:"provider_name"`
	WorkDir  string       `json:"work_dir"`
	core.SSHEndpoint
}

// sshConfigEvent is one entry as a jsonl event.
type sshConfigEvent struct {
	Event string `json:"event"`
	sshConfigEntry
}

func runSSHConfig(ctx context.Context, opts *sshConfigOptions) error {
	f := opts.f
	errOut := f.IO.ErrOut
	note := func(format string, args ...any) {
		if !f.Quiet() {
			logf(errOut, "note: "+format+"\n", args...)
		}
	}
	var refs []agentRef
	var err error
	if len(opts.Agents) > 0 {
		refs, err = resolveAgents(ctx, f, opts.Agents)
	} else {
		var gerrs []gatherError
		refs, gerrs, err = gatherAgents(ctx, f, nil, func(msg string) { note("%s", msg) })
		for _, g := range gerrs {
			logf(errOut, "warning: provider %q: %s\n", g.ProviderName, g.Message)
		}
	}
	if err != nil {
		return err
	}
	var entries []sshConfigEntry
	var failed []string
	for _, r := range refs {
		name := r.Record.Name
		sp, ok := r.Provider.(core.SSHEndpointer)
		if !ok {
			if core.CapabilitiesOf(r.Provider).HostIsThisMachine {
				note("skipping agent %s: it runs on this machine (provider %q); use `mngr connect %s`", name, r.ProviderName, name)
			} else {
				note("skipping agent %s: provider %q offers no ssh access", name, r.ProviderName)
			}
			continue
		}
		offline := func() {
			note("skipping agent %s: its host %q is %s; start it with `mngr start %s`", name, r.Host.Name, r.Host.State, name)
		}
		if r.Host.State != core.HostRunning {
			offline()
			continue
		}
		ep, err := sp.SSHEndpoint(ctx, r.Host.ID)
		if errors.Is(err, core.ErrHostOffline) {
			offline()
			continue
		}
		if err != nil {
			logf(errOut, "Error: agent %s: %v\n", name, err)
			failed = append(failed, name)
			continue
		}
		entries = append(entries, sshConfigEntry{Agent: name, AgentID: r.Record.ID, Host: r.Host.Name,
			Provider: r.ProviderName, WorkDir: r.Record.WorkDir, SSHEndpoint: ep})
	}
	assignSSHAliases(entries)
	block, err := renderSSHConfigBlock(entries)
	if err != nil {
		return err
	}
	var written []string
	if opts.Output != "" {
		if err := writeMarkedBlock(opts.Output, block); err != nil {
			return err
		}
		written = append(written, opts.Output)
	}
	if opts.Write {
		file, err := writeUserSSHConfig(f, block)
		if err != nil {
			return err
		}
		written = append(written, file)
	}
	events := make([]any, 0, len(entries))
	for _, e := range entries {
		events = append(events, sshConfigEvent{Event: "ssh_config_entry", sshConfigEntry: e})
	}
	if len(entries) == 0 && !f.Quiet() && f.Format() == FormatHuman {
		logf(errOut, "no agent is reachable over ssh\n")
	}
	if entries == nil {
		entries = []sshConfigEntry{}
	}
	human := func(w io.Writer) error {
		if len(written) == 0 {
			_, err := io.WriteString(w, renderSSHConfigEntries(entries))
			return err
		}
		for _, e := range entries {
			logf(w, "%s\n", e.Alias)
		}
		if !f.Quiet() {
			logf(errOut, "Wrote %d host(s) to %s\n", len(entries), strings.Join(written, " and "))
		}
		return nil
	}
	if err := Emit(f.IO, f.Format(), human, entries, events); err != nil {
		return err
	}
	if len(failed) > 0 {
		return &exitError{code: ExitError, err: fmt.Errorf("ssh-config failed for %d agent(s): %s", len(failed), strings.Join(failed, ", ")), printed: true}
	}
	return nil
}

// sshAliasPart maps s to characters that are plain in an ssh Host pattern
// (no wildcards, negation, commas, quotes or white space).
func sshAliasPart(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), ".-")
	if out == "" {
		out = "agent"
	}
	return out
}

// assignSSHAliases gives each entry NAME.mngr, or NAME.HOST.PROVIDER.mngr
// when two agents share a name, and sorts entries by alias.
func assignSSHAliases(entries []sshConfigEntry) {
	count := map[string]int{}
	for _, e := range entries {
		count[sshAliasPart(e.Agent)]++
	}
	for i := range entries {
		e := &entries[i]
		base := sshAliasPart(e.Agent)
		if count[base] > 1 {
			base += "." + sshAliasPart(e.Host) + "." + sshAliasPart(e.Provider)
		}
		e.Alias = base + sshAliasSuffix
	}
	// Still equal (same name, host and provider): number them, stably.
	seen := map[string]int{}
	for i := range entries {
		a := entries[i].Alias
		seen[a]++
		if n := seen[a]; n > 1 {
			entries[i].Alias = strings.TrimSuffix(a, sshAliasSuffix) + "-" + strconv.Itoa(n) + sshAliasSuffix
		}
	}
	sort.SliceStable(entries, func(a, b int) bool { return entries[a].Alias < entries[b].Alias })
}

// sshConfigPath quotes a path for ssh_config: % doubled (these keywords
// expand %-tokens) and double quotes around a path with white space.
func sshConfigPath(p string) (string, error) {
	if strings.ContainsAny(p, "\"\n\r") {
		return "", core.WithHint(fmt.Errorf("path %q cannot be written to an ssh config (it holds a quote or newline): %w", p, core.ErrInvalidInput),
			"move mngr's host dir (MNGR_HOST_DIR) to a plainer path")
	}
	p = strings.ReplaceAll(p, "%", "%%")
	if strings.ContainsAny(p, " \t") {
		p = `"` + p + `"`
	}
	return p, nil
}

// commentText makes s safe on a comment line.
func commentText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// renderSSHConfigEntry renders one Host block.
func renderSSHConfigEntry(e sshConfigEntry) (string, error) {
	key, err := sshConfigPath(e.IdentityFile)
	if err != nil {
		return "", err
	}
	kh, err := sshConfigPath(e.KnownHostsFile)
	if err != nil {
		return "", err
	}
	if e.HostName == "" || strings.ContainsAny(e.HostName, " \t\"%\n") || e.Port < 1 || e.Port > 65535 {
		return "", fmt.Errorf("agent %s: unusable ssh endpoint %s port %d: %w", e.Agent, e.HostName, e.Port, core.ErrInvalidInput)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# agent %s (host %s, provider %s)\n", commentText(e.Agent), commentText(e.Host), commentText(e.Provider))
	fmt.Fprintf(&b, "# work dir: %s\n", commentText(e.WorkDir))
	fmt.Fprintf(&b, "Host %s\n", e.Alias)
	fmt.Fprintf(&b, "    HostName %s\n", e.HostName)
	fmt.Fprintf(&b, "    Port %d\n", e.Port)
	fmt.Fprintf(&b, "    User %s\n", e.User)
	fmt.Fprintf(&b, "    IdentityFile %s\n", key)
	b.WriteString("    IdentitiesOnly yes\n")
	fmt.Fprintf(&b, "    UserKnownHostsFile %s\n", kh)
	b.WriteString("    StrictHostKeyChecking yes\n")
	// The agent runs as root on the host: neither the ssh-agent nor X11
	// goes there. Port forwardings are not cleared here: this block is for
	// the user's own ssh, scp and editors, whose remote modes forward ports
	// on the command line, and ClearAllForwardings would clear those too.
	b.WriteString("    ForwardAgent no\n")
	b.WriteString("    ForwardX11 no\n")
	b.WriteString("    ForwardX11Trusted no\n")
	return b.String(), nil
}

// renderSSHConfigEntries renders the Host blocks separated by blank lines
// (errors are reported by renderSSHConfigBlock first).
func renderSSHConfigEntries(entries []sshConfigEntry) string {
	parts := make([]string, 0, len(entries))
	for _, e := range entries {
		s, err := renderSSHConfigEntry(e)
		if err == nil {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "\n")
}

// renderSSHConfigBlock renders the marked block mngr owns in a file.
func renderSSHConfigBlock(entries []sshConfigEntry) (string, error) {
	var b strings.Builder
	b.WriteString(sshConfigBegin + " (written by `mngr ssh-config`; edits between these markers are replaced)\n")
	for i, e := range entries {
		s, err := renderSSHConfigEntry(e)
		if err != nil {
			return "", err
		}
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(s)
	}
	b.WriteString(sshConfigEnd + "\n")
	return b.String(), nil
}

// spliceMarkedBlock replaces the marked block in content with block (which
// carries its own markers), or appends block when content has none. Other
// lines are kept byte for byte.
func spliceMarkedBlock(content, block string) (string, error) {
	lines := strings.SplitAfter(content, "\n")
	begin, end := -1, -1
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if begin < 0 && strings.HasPrefix(t, sshConfigBegin) {
			begin = i
		} else if begin >= 0 && t == sshConfigEnd {
			end = i
			break
		}
	}
	switch {
	case begin >= 0 && end < 0:
		return "", core.WithHint(fmt.Errorf("found %q without %q: %w", sshConfigBegin, sshConfigEnd, core.ErrInvalidInput),
			"restore the %q line (or delete mngr's partial block) and run again", sshConfigEnd)
	case begin < 0:
		if content == "" {
			return block, nil
		}
		if !strings.HasSuffix(content, "\n") {
			content += "\n"
		}
		return content + "\n" + block, nil
	}
	return strings.Join(lines[:begin], "") + block + strings.Join(lines[end+1:], ""), nil
}

// ensureInclude puts "Include ARG" at the top of an ssh config unless an
// Include line already names one of args; other content is kept.
func ensureInclude(content string, args ...string) (string, bool) {
	for _, l := range strings.Split(content, "\n") {
		fields := strings.Fields(l)
		if len(fields) < 2 || !strings.EqualFold(fields[0], "Include") {
			continue
		}
		for _, f := range fields[1:] {
			f = strings.Trim(f, `"`)
			for _, a := range args {
				if f == strings.Trim(a, `"`) {
					return content, false
				}
			}
		}
	}
	line := "Include " + args[0] + "\n"
	if content == "" {
		return line, true
	}
	return line + "\n" + content, true
}

// writeMarkedBlock rewrites file with block spliced in (created 0600).
func writeMarkedBlock(file, block string) error {
	old, err := os.ReadFile(file) //nolint:gosec // G304: the user names the file.
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", file, err)
	}
	text, err := spliceMarkedBlock(string(old), block)
	if err != nil {
		return fmt.Errorf("update %s: %w", file, err)
	}
	if text == string(old) {
		return nil
	}
	return writeFileKeepMode(file, []byte(text))
}

// writeUserSSHConfig writes <host dir>/ssh_config and includes it from
// ~/.ssh/config; it returns the file written.
func writeUserSSHConfig(f *Factory, block string) (string, error) {
	env := f.Env()
	home := ""
	if env.Getenv != nil {
		home = env.Getenv("HOME")
	}
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find home directory: %w", err)
		}
		home = h
	}
	file := filepath.Join(env.HostDir, "ssh_config")
	if err := writeMarkedBlock(file, block); err != nil {
		return "", err
	}
	abs, err := sshConfigPath(file)
	if err != nil {
		return "", err
	}
	args := []string{abs}
	if filepath.Clean(env.HostDir) == filepath.Join(home, ".mngr") {
		args = []string{"~/.mngr/ssh_config", abs}
	}
	userCfg := filepath.Join(home, ".ssh", "config")
	if err := os.MkdirAll(filepath.Dir(userCfg), 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(userCfg), err)
	}
	old, err := os.ReadFile(userCfg) //nolint:gosec // G304: the user's own ssh config.
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", userCfg, err)
	}
	if text, changed := ensureInclude(string(old), args...); changed {
		if err := writeFileKeepMode(userCfg, []byte(text)); err != nil {
			return "", err
		}
	}
	return file, nil
}

// writeFileKeepMode replaces file atomically, keeping its mode (0600 for a
// new file) and writing through a symlink to its target.
func writeFileKeepMode(file string, data []byte) error {
	mode := fs.FileMode(0o600)
	if target, err := filepath.EvalSymlinks(file); err == nil {
		file = target
	}
	if st, err := os.Stat(file); err == nil {
		mode = st.Mode().Perm()
	}
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return core.WriteFileAtomic(file, data, mode)
}
