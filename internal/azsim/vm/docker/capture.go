package docker

import (
	"context"
	"errors"
	"fmt"
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
func (b *Backend) copyVolume(ctx context.Context, from, to string) error {
	// The machines' own rights (not --privileged, which this dockerd may
	// refuse): CAP_SYS_ADMIN copies trusted.* attributes, CAP_MKNOD the
	// whiteout devices.
	if _, err := b.docker.run(ctx, "run", "--rm", "--cap-add=ALL", "--cap-drop=SYS_RESOURCE",
		"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined", "--network", "none",
		"--label", LabelAzsim+"=1", "--label", LabelDataDir+"="+b.dataDir,
		"-v", from+":/from:ro", "-v", to+":/to", "--entrypoint", "/bin/cp",
		b.opts.Images.VM, "-a", "/from/.", "/to/"); err != nil {
		return fmt.Errorf("copy disk %s to %s: %w", from, to, err)
	}
	return nil
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
