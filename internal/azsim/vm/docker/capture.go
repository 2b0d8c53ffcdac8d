package docker

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/mngr-azure/mngr/internal/azsim/vm"
	"github.com/mngr-azure/mngr/internal/core"
)

var _ vm.Imager = (*Backend)(nil)

// LabelImageID marks the image and disk template of a captured gallery
// image version with its resource id.
const LabelImageID = "dev.mngr.azsim.image-id"

// A captured image version is two things, as a VM's disk is two things
// here: the committed container (its root file system) and a copy of its
// inner dockerd's volume (guestDockerDir), which a new VM's volume starts
// from.

// imageRef is the docker image of captured version imageID.
func (b *Backend) imageRef(imageID string) string {
	return "azsim-image-" + machineKey(b.dataDir, imageID) + ":captured"
}

// imageVolume is the disk template of captured version imageID.
func (b *Backend) imageVolume(imageID string) string {
	return "azsim-image-" + machineKey(b.dataDir, imageID) + "-docker"
}

// Capture commits the stopped machine of vmID and copies its inner
// dockerd's volume, as image version imageID. A failure removes both.
func (b *Backend) Capture(ctx context.Context, vmID, imageID string) (err error) {
	b.mu.Lock()
	m, ok := b.machines[strings.ToLower(vmID)]
	b.mu.Unlock()
	if !ok {
		return fmt.Errorf("capture vm %q: no machine: %w", vmID, core.ErrNotFound)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	status, err := b.containerStatus(ctx, m.Container)
	if err != nil {
		return fmt.Errorf("capture vm %q: %w", m.Spec.Name, err)
	}
	if status == "" || isRunning(status) {
		return fmt.Errorf("capture vm %q: the machine is %q, not stopped: %w", m.Spec.Name, status, core.ErrConflict)
	}
	ref, vol := b.imageRef(imageID), b.imageVolume(imageID)
	defer func() {
		if err != nil {
			_ = b.DeleteImage(context.WithoutCancel(ctx), imageID)
		}
	}()
	if _, err := b.docker.run(ctx, "commit",
		"--change", "LABEL "+LabelAzsim+"=1",
		"--change", "LABEL "+LabelDataDir+"="+quoteLabel(b.dataDir),
		"--change", "LABEL "+LabelImageID+"="+quoteLabel(imageID),
		"--change", "LABEL "+LabelResourceID+"=",
		m.Container, ref); err != nil {
		return fmt.Errorf("capture vm %q: commit: %w", m.Spec.Name, err)
	}
	if _, err := b.docker.run(ctx, "volume", "create",
		"--label", LabelAzsim+"=1", "--label", LabelDataDir+"="+b.dataDir,
		"--label", LabelImageID+"="+imageID, vol); err != nil {
		return fmt.Errorf("capture vm %q: disk template: %w", m.Spec.Name, err)
	}
	if err := b.copyVolume(ctx, m.Volume, vol); err != nil {
		return fmt.Errorf("capture vm %q: %w", m.Spec.Name, err)
	}
	return nil
}

// DeleteImage removes a captured version's image and disk template. An
// image that VMs still run from loses its tag only; destroy removes it
// with the last such VM.
func (b *Backend) DeleteImage(ctx context.Context, imageID string) error {
	var errs []error
	if _, err := b.docker.run(ctx, "image", "rm", b.imageRef(imageID)); err != nil && !isNoSuchObject(err) {
		if _, err2 := b.docker.run(ctx, "image", "rm", "-f", b.imageRef(imageID)); err2 != nil && !isNoSuchObject(err2) {
			errs = append(errs, fmt.Errorf("remove image: %w", err))
		}
	}
	if _, err := b.docker.run(ctx, "volume", "rm", "-f", b.imageVolume(imageID)); err != nil && !isNoSuchObject(err) {
		errs = append(errs, fmt.Errorf("remove disk template: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete image %q: %w", imageID, err)
	}
	return nil
}

// copyVolume copies every file of volume from into volume to, keeping
// owners, modes, device nodes and extended attributes (the inner
// dockerd's overlay layers need them), in a short-lived helper container.
//
// The image layers' contents (overlay2/*/diff) are hard links rather than
// copies when both volumes live under one volume root (Docker's local
// driver): overlay never writes into a lower layer (a change is copied up
// into the container's own layer, a removal unlinks this disk's name only),
// so the disks may share those inodes, as an Azure disk restored from a
// gallery snapshot shares the snapshot's blocks until written. Every other
// file (dockerd's bolt databases are written in place) is a private copy.
// This keeps a VM from a baked image with an agent CLI image of a GB from
// waiting for a GB copy Azure does not make it wait for.
func (b *Backend) copyVolume(ctx context.Context, from, to string) error {
	// The machines' own rights (not --privileged, which this dockerd may
	// refuse): CAP_SYS_ADMIN copies trusted.* attributes, CAP_MKNOD the
	// whiteout devices.
	args := []string{"run", "--rm", "--cap-add=ALL", "--cap-drop=SYS_RESOURCE",
		"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined", "--network", "none",
		"--label", LabelAzsim + "=1", "--label", LabelDataDir + "=" + b.dataDir}
	if root, fromRel, toRel, ok := b.volumesUnderOneRoot(ctx, from, to); ok {
		args = append(args, "-v", root+":/vols", "--entrypoint", "/bin/sh", b.opts.Images.VM, "-c", linkCopyScript, "sh", "/vols/"+fromRel, "/vols/"+toRel)
	} else {
		args = append(args, "-v", from+":/from:ro", "-v", to+":/to", "--entrypoint", "/bin/cp", b.opts.Images.VM, "-a", "/from/.", "/to/")
	}
	if _, err := b.docker.run(ctx, args...); err != nil {
		return fmt.Errorf("copy disk %s to %s: %w", from, to, err)
	}
	return nil
}

// linkCopyScript (sh -c, $1 the source dir, $2 the target dir) links every
// file of $1 into $2, then replaces with a copy of its own each linked file
// outside the image layers' contents and in any container's layer; where
// links fail (another file system) it copies everything.
const linkCopyScript = `set -eu
from=$1 to=$2
if ! cp -a --link "$from/." "$to/" 2>/dev/null; then
  find "$to" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  exec cp -a "$from/." "$to/"
fi
private='for f do cp -a "$f" "$f.azsim-copy" && mv -f "$f.azsim-copy" "$f"; done'
find "$to" -path "$to/overlay2/*/diff" -prune -o -type f -links +1 -exec sh -c "$private" sh {} +
# A container's own layer (the one beside its -init layer) is written in
# place: private too.
for init in "$to"/overlay2/*-init; do
  [ -d "$init" ] || continue
  find "$init" "${init%-init}" -type f -links +1 -exec sh -c "$private" sh {} +
done
`

// volumesUnderOneRoot returns the directory that holds both volumes'
// directories (the local driver's volume root) and each volume's data dir
// relative to it, when there is one.
func (b *Backend) volumesUnderOneRoot(ctx context.Context, from, to string) (root, fromRel, toRel string, ok bool) {
	out, err := b.docker.run(ctx, "volume", "inspect", "-f", "{{.Driver}} {{.Mountpoint}}", from, to)
	if err != nil {
		return "", "", "", false
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		return "", "", "", false
	}
	var mps [2]string
	for i, l := range lines {
		driver, mp, found := strings.Cut(strings.TrimSpace(l), " ")
		if !found || driver != "local" || !path.IsAbs(mp) || path.Base(mp) != "_data" {
			return "", "", "", false
		}
		mps[i] = mp
	}
	root = path.Dir(path.Dir(mps[0]))
	if path.Dir(path.Dir(mps[1])) != root || root == "/" {
		return "", "", "", false
	}
	return root, strings.TrimPrefix(mps[0], root+"/"), strings.TrimPrefix(mps[1], root+"/"), true
}

// removeOrphanImage removes the image a destroyed machine ran from once
// its version is gone (the image has no tag left) and no container uses it.
func (b *Backend) removeOrphanImage(ctx context.Context, imageID string) {
	if imageID == "" {
		return
	}
	id, err := b.docker.run(ctx, "image", "ls", "-q", "--no-trunc",
		"--filter", "label="+LabelImageID+"="+imageID, "--filter", "label="+LabelDataDir+"="+b.dataDir, "--filter", "dangling=true")
	if err != nil {
		return
	}
	for _, i := range strings.Fields(id) {
		_, _ = b.docker.run(ctx, "image", "rm", i)
	}
}

// removeImages removes every captured image of this data dir (Close with reset).
func (b *Backend) removeImages(ctx context.Context) error {
	out, err := b.docker.run(ctx, "image", "ls", "-q", "--no-trunc", "--filter", "label="+LabelDataDir+"="+b.dataDir)
	if err != nil {
		return fmt.Errorf("list captured images: %w", err)
	}
	if ids := strings.Fields(out); len(ids) > 0 {
		if _, err := b.docker.run(ctx, append([]string{"image", "rm", "-f"}, ids...)...); err != nil && !isNoSuchObject(err) {
			return fmt.Errorf("remove captured images: %w", err)
		}
	}
	return nil
}

// quoteLabel quotes a LABEL value for a Dockerfile instruction.
func quoteLabel(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}
