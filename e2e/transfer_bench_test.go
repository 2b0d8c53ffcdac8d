//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchTree writes files files of size bytes each (random, so nothing
// compresses away) under dir, in 50 subdirectories.
func benchTree(b *testing.B, dir string, files, size int) {
	b.Helper()
	buf := make([]byte, size)
	for i := 0; i < files; i++ {
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i%50), fmt.Sprintf("f%05d.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		_, _ = rand.Read(buf)
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// timed runs cmd and returns how long it took, failing the benchmark when
// it fails.
func timed(b *testing.B, dir string, env []string, name string, args ...string) time.Duration {
	b.Helper()
	cmd := exec.CommandContext(context.Background(), name, args...)
	cmd.Dir, cmd.Env = dir, env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return d
}

// BenchmarkTransferOnAzsim measures mngr's transfers of a 5,000-file,
// 100 MB project (random data) to an agent on a simulated Azure VM against
// the plain tools doing the same work over the same SSH endpoint
// (ssh-config's entry: same key, same pinned host key), in the same run:
//
//   - git-mirror, first time: create's transfer step (prepare the target,
//     git push, checkout) against ssh git init + git push + ssh checkout;
//   - after a one-file change: `mngr git push` (the whole command) against
//     git push into a checkout that follows (updateInstead) as the agent's does;
//   - rsync, first time: create's transfer step against ssh mkdir + rsync -az;
//   - after a one-file change: `mngr rsync` (the whole command) against rsync -az.
//
// It reports the ratios (target ≤ 1.2), the plain tools' times and the
// whole creates' times. Run it with
//
//	go test -tags e2e ./e2e -run '^$' -bench TransferOnAzsim -benchtime 1x -timeout 30m
func BenchmarkTransferOnAzsim(b *testing.B) {
	if err := exec.CommandContext(context.Background(), "docker", "info").Run(); err != nil {
		b.Skip("docker is not available")
	}
	j := startAzsimJourney(b, "docker")
	j.must("azure", "prepare")
	j.useDefaultTransfer()
	root := filepath.Join(j.dir, "bench")
	repo := filepath.Join(root, "repo")
	plain := filepath.Join(root, "plain")
	for _, d := range []string{repo, plain} {
		benchTree(b, d, 5000, 20*1024)
	}
	env := append(os.Environ(), "GIT_AUTHOR_NAME=b", "GIT_AUTHOR_EMAIL=b@example.com", "GIT_COMMITTER_NAME=b", "GIT_COMMITTER_EMAIL=b@example.com")
	timed(b, repo, env, "git", "init", "-q", "-b", "main")
	timed(b, repo, env, "git", "add", "-A")
	timed(b, repo, env, "git", "commit", "-q", "-m", "tree")
	j.dir = repo
	j.must("create", "host0", "--provider", "azure", "--transfer", "none", "--no-connect")
	sshCfg := filepath.Join(root, "ssh_config")
	j.must("ssh-config", "host0", "--output", sshCfg)
	sshEnv := append(append([]string(nil), env...), "GIT_SSH_COMMAND=ssh -F "+sshCfg)
	hostName := "host0-host"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("g%d", i)
		pdir := fmt.Sprintf("/tmp/plain-%s", name)
		// Plain git does what mngr's git-mirror does, over the same ssh: a
		// new repository whose checkout follows pushes, one push of the
		// base as the new branch, a checkout of it.
		plainFirst := timed(b, repo, sshEnv, "ssh", "-F", sshCfg, "host0.mngr",
			fmt.Sprintf("git init -q %s && git -C %s config receive.denyCurrentBranch updateInstead", pdir, pdir))
		plainFirst += timed(b, repo, sshEnv, "git", "push", "-q", "host0.mngr:"+pdir, "main:refs/heads/"+name)
		plainFirst += timed(b, repo, sshEnv, "ssh", "-F", sshCfg, "host0.mngr", fmt.Sprintf("git -C %s checkout -q %s", pdir, name))
		start := time.Now()
		_, errOut, err := j.mngr("create", name, "--provider", "azure", "--host", hostName, "--transfer", "git-mirror", "--no-connect", "--", "sleep", "100000")
		createGit := time.Since(start)
		if err != nil {
			b.Fatalf("create %s: %v", name, err)
		}
		mngrFirst := transferStep(b, errOut)
		// One changed file on the agent's branch, pushed both ways (both
		// checkouts follow).
		timed(b, repo, env, "git", "switch", "-q", "-c", "mngr/"+name, "main")
		if err := os.WriteFile(filepath.Join(repo, "d00", "f00000.bin"), []byte(name), 0o644); err != nil {
			b.Fatal(err)
		}
		timed(b, repo, env, "git", "commit", "-q", "-am", "one file")
		plainAgain := timed(b, repo, sshEnv, "git", "push", "-q", "host0.mngr:"+pdir, "HEAD:refs/heads/"+name)
		// Timed around the process alone (j.must also scans azsim's log).
		mngrAgain := timed(b, repo, j.env, filepath.Join(binDir, "mngr"), "git", "push", name)
		timed(b, repo, env, "git", "switch", "-q", "main")
		// rsync of the plain directory, both ways.
		rsyncFirst := timed(b, plain, env, "ssh", "-F", sshCfg, "host0.mngr", fmt.Sprintf("mkdir -p /tmp/rs-%s", name))
		rsyncFirst += timed(b, plain, env, "rsync", "-az", "-e", "ssh -F "+sshCfg, plain+"/", fmt.Sprintf("host0.mngr:/tmp/rs-%s/", name))
		start = time.Now()
		_, errOut, err = j.mngr("create", "r"+name, "--provider", "azure", "--host", hostName, "--source", plain, "--no-connect", "--", "sleep", "100000")
		createRsync := time.Since(start)
		if err != nil {
			b.Fatalf("create r%s: %v", name, err)
		}
		mngrRsync := transferStep(b, errOut)
		// One changed file, copied again both ways.
		if err := os.WriteFile(filepath.Join(plain, "d00", "f00000.bin"), []byte(name), 0o644); err != nil {
			b.Fatal(err)
		}
		rsyncAgain := timed(b, plain, env, "rsync", "-az", "-e", "ssh -F "+sshCfg, plain+"/", fmt.Sprintf("host0.mngr:/tmp/rs-%s/", name))
		mngrRsyncAgain := timed(b, repo, j.env, filepath.Join(binDir, "mngr"), "rsync", plain+"/", "r"+name+":")
		b.ReportMetric(mngrFirst.Seconds()/plainFirst.Seconds(), "git-first-ratio")
		b.ReportMetric(mngrAgain.Seconds()/plainAgain.Seconds(), "git-again-ratio")
		b.ReportMetric(mngrRsync.Seconds()/rsyncFirst.Seconds(), "rsync-first-ratio")
		b.ReportMetric(mngrRsyncAgain.Seconds()/rsyncAgain.Seconds(), "rsync-again-ratio")
		b.ReportMetric(plainFirst.Seconds(), "plain-git-first-s")
		b.ReportMetric(plainAgain.Seconds(), "plain-git-again-s")
		b.ReportMetric(rsyncFirst.Seconds(), "plain-rsync-first-s")
		b.ReportMetric(rsyncAgain.Seconds(), "plain-rsync-again-s")
		b.ReportMetric(createGit.Seconds(), "create-git-mirror-s")
		b.ReportMetric(createRsync.Seconds(), "create-rsync-s")
	}
}

// transferStepRe reads the transfer step's time from create's progress.
var transferStepRe = regexp.MustCompile(`transferring [^\n]*? done \(([0-9.]+)s\)`)

// transferStep is how long create's transfer step took, from its progress
// line on stderr.
func transferStep(b *testing.B, stderr string) time.Duration {
	b.Helper()
	m := transferStepRe.FindStringSubmatch(stderr)
	if m == nil {
		b.Fatalf("no transfer step in create's progress:\n%s", stderr)
	}
	secs, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		b.Fatal(err)
	}
	return time.Duration(secs * float64(time.Second))
}
