package core

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
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
	// Dir says Local is a directory: its files go under Remote (made if
	// missing; files of the same names there are replaced).
	Dir bool `json:"dir,omitempty"`
	// Files and Bytes are how many regular files a directory holds and
	// their size.
	Files int   `json:"files,omitempty"`
	Bytes int64 `json:"bytes,omitempty"`
}

// ParseUpload reads LOCAL:REMOTE and checks that LOCAL is a regular file
// or a directory mngr can read, of at most MaxUploadBytes (a directory:
// its files together; it may hold files, directories and symlinks only).
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
	case st.IsDir():
		return parseDirUpload(local, remote)
	case !st.Mode().IsRegular():
		return FileUpload{}, WithHint(fmt.Errorf("--upload-file %s is neither a regular file nor a directory: %w", Printable(local), ErrInvalidInput),
			"upload regular files or directories")
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

// parseDirUpload checks a directory to upload: everything in it readable,
// only files, directories and symlinks, at most MaxUploadBytes in all.
func parseDirUpload(local, remote string) (FileUpload, error) {
	u := FileUpload{Local: local, Remote: remote, Dir: true}
	err := filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch m := info.Mode(); {
		case m.IsDir(), m&fs.ModeSymlink != 0:
		case m.IsRegular():
			fh, err := os.Open(p) //nolint:gosec // G304: the user names the directory to upload.
			if err != nil {
				return err
			}
			_ = fh.Close()
			u.Files++
			u.Bytes += info.Size()
			if u.Bytes > MaxUploadBytes {
				return WithHint(fmt.Errorf("--upload-file %s holds more than %d bytes: %w", Printable(local), MaxUploadBytes, ErrInvalidInput),
					"copy large trees with the transfer (the project) or mngr rsync")
			}
		default:
			return WithHint(fmt.Errorf("--upload-file %s: %s is a %s, which is not uploaded: %w", Printable(local), Printable(p), m.Type(), ErrInvalidInput),
				"upload a directory of files, directories and symlinks")
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrInvalidInput) {
			return FileUpload{}, err
		}
		return FileUpload{}, WithHint(fmt.Errorf("--upload-file %s: %w: %w", Printable(local), err, ErrInvalidInput), "make the directory readable")
	}
	return u, nil
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
		if u.Dir {
			if err := uploadDir(ctx, h, u, dst); err != nil {
				return err
			}
			continue
		}
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

// uploadDir copies directory u.Local into dst on h as a tar stream
// (archive/tar here, tar on the host): files keep their modes, owners are
// the host user's, symlinks stay symlinks.
func uploadDir(ctx context.Context, h *Host, u FileUpload, dst string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, u.Local)) }()
	defer func() { _ = pr.Close() }()
	script := fmt.Sprintf("set -e\nmkdir -p %s\ntar -x -m --no-same-owner -f - -C %s", ShellQuote(dst), ShellQuote(dst))
	done := ProgressFrom(ctx).Step(fmt.Sprintf("uploading %s (%d files, %d bytes) to %s", path.Base(u.Local), u.Files, u.Bytes, dst))
	_, err := h.mustRunInput(ctx, "upload "+u.Local+" to "+dst, script, pr)
	done(err)
	if err != nil {
		return WithHint(fmt.Errorf("%w: %w", err, ErrSetupFailed), "check that %s can be written on host %s and that it has tar", dst, h.Name)
	}
	return nil
}

// writeTar writes the tree under dir to w as a tar archive of relative
// names.
func writeTar(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		fh, err := os.Open(p) //nolint:gosec // G304: a file of the directory the user uploads.
		if err != nil {
			return err
		}
		defer func() { _ = fh.Close() }()
		_, err = io.Copy(tw, fh)
		return err
	})
	if err != nil {
		return fmt.Errorf("pack %s: %w", dir, err)
	}
	return tw.Close()
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
