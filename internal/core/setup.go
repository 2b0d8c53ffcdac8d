package core

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
)

// A create's own set-up of the host and the agent, beyond the agent type's:
// commands run once on a new host (inside it, and on the machine around
// it), the host's environment, files copied in, and commands run in the
// agent's work dir before it starts (--post-host-create-command,
// --post-host-create-outer-command, --host-env, --upload-file,
// --extra-provision-command).

// MaxUploadBytes bounds one --upload-file (it travels on a command's stdin).
const MaxUploadBytes = 64 << 20

// setupOutputLines is how much of a failed set-up command's output an error
// quotes.
const setupOutputLines = 20

// FileUpload is one file copied from this machine into the agent's host
// before the agent starts.
type FileUpload struct {
	// Local is the file on this machine.
	Local string `json:"local"`
	// Remote is where it goes on the host; a relative path is under the
	// agent's work dir.
	Remote string `json:"remote"`
}

// ParseUpload reads LOCAL:REMOTE and checks that LOCAL is a regular file
// mngr can read, of at most MaxUploadBytes.
func ParseUpload(s string) (FileUpload, error) {
	local, remote, ok := strings.Cut(s, ":")
	if !ok || local == "" || remote == "" {
		return FileUpload{}, WithHint(fmt.Errorf("invalid --upload-file %q: %w", Printable(s), ErrInvalidInput),
			"write --upload-file LOCAL:REMOTE, for example --upload-file ~/.npmrc:/root/.npmrc (a relative REMOTE is under the agent's work dir)")
	}
	if strings.ContainsRune(remote, 0) || strings.Contains(remote, "\n") {
		return FileUpload{}, WithHint(fmt.Errorf("invalid --upload-file destination %q: %w", Printable(remote), ErrInvalidInput),
			"give a path without newlines")
	}
	st, err := os.Stat(local)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return FileUpload{}, WithHint(fmt.Errorf("--upload-file %s: no such file on this machine: %w", Printable(local), ErrInvalidInput),
			"check the path before the ':'")
	case err != nil:
		return FileUpload{}, WithHint(fmt.Errorf("--upload-file %s: %w: %w", Printable(local), err, ErrInvalidInput), "check the path before the ':'")
	case !st.Mode().IsRegular():
		return FileUpload{}, WithHint(fmt.Errorf("--upload-file %s is not a regular file: %w", Printable(local), ErrInvalidInput),
			"upload files one by one (a directory: pack it with tar, upload the archive, and unpack it with --extra-provision-command)")
	case st.Size() > MaxUploadBytes:
		return FileUpload{}, WithHint(fmt.Errorf("--upload-file %s is %d bytes, more than %d: %w", Printable(local), st.Size(), MaxUploadBytes, ErrInvalidInput),
			"copy large files with the transfer (the project) or mngr rsync")
	}
	fh, err := os.Open(local) //nolint:gosec // G304: the user names the file to upload.
	if err != nil {
		return FileUpload{}, WithHint(fmt.Errorf("--upload-file %s: %w: %w", Printable(local), err, ErrInvalidInput), "make the file readable")
	}
	_ = fh.Close()
	return FileUpload{Local: local, Remote: remote}, nil
}

// remotePath is where u goes on a host, for an agent working in workDir.
func (u FileUpload) remotePath(workDir string) string {
	if path.IsAbs(u.Remote) {
		return path.Clean(u.Remote)
	}
	return path.Join(workDir, u.Remote)
}

// OuterHostRunner is a provider whose hosts run inside a machine of their
// own (an agent container on a VM): RunOuter runs script on that machine,
// as root, outside the host. A provider without it has no outer machine
// (this machine, for the local provider).
type OuterHostRunner interface {
	RunOuter(ctx context.Context, id HostID, script string, opts RunOptions) (RunResult, error)
}

// runNewHostSetup runs the commands of a host made by this create: first
// the outer ones (on the machine around the host), then the ones inside
// it. On a host that existed, or a provider without an outer machine,
// they are skipped with a warning.
func runNewHostSetup(ctx context.Context, req CreateRequest, h *Host, created bool) error {
	hr := req.NewHost
	prog := ProgressFrom(ctx)
	if !created {
		if len(hr.OuterCommands)+len(hr.PostCreateCommands) > 0 {
			prog.Warn(fmt.Sprintf("host %q already existed: the post-host-create commands were not run (they run once, on a new host)", h.Name))
		}
		return nil
	}
	if len(hr.OuterCommands) > 0 {
		outer, ok := req.Provider.(OuterHostRunner)
		if !ok {
			prog.Warn(fmt.Sprintf("provider %q has no machine outside its hosts: --post-host-create-outer-command skipped", req.ProviderName))
		} else {
			for i, c := range hr.OuterCommands {
				what := fmt.Sprintf("post-host-create outer command %d of %d", i+1, len(hr.OuterCommands))
				done := prog.Step("running " + what)
				res, err := outer.RunOuter(ctx, h.ID, c, RunOptions{})
				err = setupResult(what, "the machine around host "+strconv.Quote(h.Name), res, err)
				done(err)
				if err != nil {
					return err
				}
			}
		}
	}
	for i, c := range hr.PostCreateCommands {
		what := fmt.Sprintf("post-host-create command %d of %d", i+1, len(hr.PostCreateCommands))
		done := prog.Step("running " + what)
		res, err := h.run(ctx, what, "set -a; if [ -f "+ShellQuote(hostEnvFile(h))+" ]; then . "+ShellQuote(hostEnvFile(h))+"; fi; set +a\n"+c)
		err = setupResult(what, "host "+strconv.Quote(h.Name), res, err)
		done(err)
		if err != nil {
			return err
		}
	}
	return nil
}

// setupResult turns a set-up command's outcome into an error that quotes
// the tail of its output, or nil when it exited 0.
func setupResult(what, where string, res RunResult, err error) error {
	if err != nil {
		return fmt.Errorf("%s on %s: %w", what, where, err)
	}
	if res.OK() {
		return nil
	}
	out := strings.TrimSpace(strings.TrimSpace(res.Stdout) + "\n" + strings.TrimSpace(res.Stderr))
	lines := strings.Split(out, "\n")
	if len(lines) > setupOutputLines {
		lines = lines[len(lines)-setupOutputLines:]
	}
	return WithHint(fmt.Errorf("%s on %s failed (exit %d): %s: %w", what, where, res.ExitCode, PrintableLines(strings.Join(lines, "\n")), ErrSetupFailed),
		"fix the command (the create was undone), then run the create again")
}

// CheckEnv checks KEY=VALUE entries as the env files take them: a name of
// letters, digits and '_' not starting with a digit.
func CheckEnv(vars []string) error {
	_, err := parseEnv(vars)
	return err
}

// writeHostEnv merges vars (KEY=VALUE) into the host's env file, which
// every agent on the host loads before its own: a key given again replaces
// its old line.
func writeHostEnv(ctx context.Context, h *Host, vars []string) error {
	if len(vars) == 0 {
		return nil
	}
	add, err := parseEnv(vars)
	if err != nil {
		return err
	}
	file := hostEnvFile(h)
	res, err := h.mustRun(ctx, "read the host env file", "cat "+ShellQuote(file)+" 2>/dev/null || true")
	if err != nil {
		return err
	}
	replaced := map[string]bool{}
	for _, kv := range add {
		replaced[kv[0]] = true
	}
	var b strings.Builder
	for _, line := range strings.Split(res.Stdout, "\n") {
		k, _, ok := strings.Cut(line, "=")
		if line == "" || (ok && replaced[k]) {
			continue
		}
		b.WriteString(line + "\n")
	}
	b.WriteString(envFile(add))
	script := "set -e\nmkdir -p " + ShellQuote(h.HostDir) + "\n" + secretFileScript(file)
	_, err = h.mustRunInput(ctx, "write the host env file", script, strings.NewReader(b.String()))
	return err
}

// uploadFiles copies the uploads into the agent's host, each created with
// its local file's permission bits.
func uploadFiles(ctx context.Context, h *Host, rec AgentRecord, uploads []FileUpload) error {
	for _, u := range uploads {
		dst := u.remotePath(rec.WorkDir)
		data, err := os.ReadFile(u.Local)
		if err != nil {
			return fmt.Errorf("read %s to upload: %w", u.Local, err)
		}
		mode := os.FileMode(0o644)
		if st, err := os.Stat(u.Local); err == nil {
			mode = st.Mode().Perm()
		}
		tmp := ShellQuote(dst+".tmp") + `."$$"`
		script := fmt.Sprintf("set -e\nmkdir -p %s\n{ cat > %s && chmod %o %s && mv -f %s %s; } || { rm -f %s; exit 1; }",
			ShellQuote(path.Dir(dst)), tmp, mode, tmp, tmp, ShellQuote(dst), tmp)
		done := ProgressFrom(ctx).Step("uploading " + path.Base(u.Local) + " to " + dst)
		_, err = h.mustRunInput(ctx, "upload "+u.Local+" to "+dst, script, strings.NewReader(string(data)))
		done(err)
		if err != nil {
			return WithHint(fmt.Errorf("%w: %w", err, ErrSetupFailed), "check that %s can be written on host %s", path.Dir(dst), h.Name)
		}
	}
	return nil
}

// runProvisionCommands runs the agent's extra provision commands, in
// order, in its work dir with its environment; the first that fails stops
// the create.
func runProvisionCommands(ctx context.Context, h *Host, rec AgentRecord, commands []string) error {
	for i, c := range commands {
		what := fmt.Sprintf("extra provision command %d of %d", i+1, len(commands))
		done := ProgressFrom(ctx).Step("running " + what)
		res, err := h.run(ctx, what, ExecScript(h, rec, c))
		err = setupResult(what, "host "+strconv.Quote(h.Name), res, err)
		done(err)
		if err != nil {
			return err
		}
	}
	return nil
}
