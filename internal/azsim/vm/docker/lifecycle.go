package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mngr-azure/mngr/internal/azsim/vm"
	"github.com/mngr-azure/mngr/internal/core"
)

// Create boots the VM's machine and returns once its sshd answers on
// PublicIP:22. Calling it again for an existing machine only refreshes what
// the backend knows of the VM (identity, keys for IMDS) and waits for sshd.
func (b *Backend) Create(ctx context.Context, spec vm.Spec) error {
	m := b.lockMachine(spec)
	defer m.mu.Unlock()
	status, err := b.containerStatus(ctx, m.Container)
	if err != nil {
		return fmt.Errorf("create vm %q: %w", spec.Name, err)
	}
	if status == "" {
		return b.boot(ctx, m, spec)
	}
	b.refreshSpec(m, spec)
	if !isRunning(status) {
		return b.startLocked(ctx, m, spec)
	}
	if err := b.saveState(m); err != nil {
		return err
	}
	return b.waitSSH(ctx, m)
}

// Start starts a deallocated or stopped machine with its disk, host keys
// and address. A machine whose container is gone boots afresh.
func (b *Backend) Start(ctx context.Context, spec vm.Spec) error {
	m := b.lockMachine(spec)
	defer m.mu.Unlock()
	status, err := b.containerStatus(ctx, m.Container)
	if err != nil {
		return fmt.Errorf("start vm %q: %w", spec.Name, err)
	}
	if status == "" {
		return b.boot(ctx, m, spec)
	}
	if spec.PublicIP != "" && m.Spec.PublicIP != "" && spec.PublicIP != m.Spec.PublicIP {
		return fmt.Errorf("start vm %q: its machine is published on %s, not %s (a VM keeps its address in azsim): %w",
			spec.Name, m.Spec.PublicIP, spec.PublicIP, core.ErrConflict)
	}
	b.refreshSpec(m, spec)
	return b.startLocked(ctx, m, spec)
}

// Deallocate stops the machine keeping its disk; Observe then reports it
// deallocated.
func (b *Backend) Deallocate(ctx context.Context, resourceID string) error {
	return b.stop(ctx, resourceID, true)
}

// PowerOff stops the machine keeping its disk; Observe then reports it
// stopped (ARM keeps the compute allocated and billing).
func (b *Backend) PowerOff(ctx context.Context, resourceID string) error {
	return b.stop(ctx, resourceID, false)
}

// Delete removes the machine, its disk (the inner docker volume), its
// sockets and its loopback address. Deleting an unknown VM does nothing.
func (b *Backend) Delete(ctx context.Context, resourceID string) error {
	b.mu.Lock()
	m, ok := b.machines[strings.ToLower(resourceID)]
	b.mu.Unlock()
	if !ok {
		// No state: still remove any container labelled with this VM.
		return b.removeByFilter(ctx, "label="+LabelResourceID+"="+resourceID, "label="+LabelDataDir+"="+b.dataDir)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := b.destroy(ctx, m); err != nil {
		return fmt.Errorf("delete vm %q: %w", m.Spec.Name, err)
	}
	b.mu.Lock()
	delete(b.machines, strings.ToLower(resourceID))
	b.mu.Unlock()
	return nil
}

// Observe reports the machine's power state as seen from outside:
// running, deallocated (after Deallocate) or stopped (after PowerOff, or
// when the guest shut itself down). ok is false for an unknown VM or a
// machine whose container is gone.
func (b *Backend) Observe(ctx context.Context, resourceID string) (vm.PowerState, bool, error) {
	b.mu.Lock()
	m, ok := b.machines[strings.ToLower(resourceID)]
	name := ""
	if ok {
		// Spec changes under the table lock; Observe holds no machine lock.
		name = m.Spec.Name
	}
	b.mu.Unlock()
	if !ok {
		return "", false, nil
	}
	status, err := b.containerStatus(ctx, m.Container)
	if err != nil {
		return "", false, fmt.Errorf("observe vm %q: %w", name, err)
	}
	b.mu.Lock()
	deallocated := m.Deallocated
	b.mu.Unlock()
	switch {
	case status == "":
		return "", false, nil
	case status == "created":
		return vm.PowerStarting, true, nil
	case isRunning(status):
		return vm.PowerRunning, true, nil
	case deallocated:
		return vm.PowerDeallocated, true, nil
	default:
		return vm.PowerStopped, true, nil
	}
}

// boot makes a machine from nothing: files, address, sockets, volume,
// container; then waits for sshd. A failure removes what it made.
func (b *Backend) boot(ctx context.Context, m *machine, spec vm.Spec) (err error) {
	b.mu.Lock()
	m.Spec = specWithoutData(spec)
	b.mu.Unlock()
	b.setPower(m, false, false)
	if err := checkPublicIP(spec.PublicIP); err != nil {
		return fmt.Errorf("create vm %q: %w", spec.Name, err)
	}
	defer func() {
		if err == nil || b.opts.KeepFailed {
			return
		}
		_ = b.destroy(context.WithoutCancel(ctx), m)
		b.mu.Lock()
		delete(b.machines, strings.ToLower(spec.ResourceID))
		b.mu.Unlock()
	}()
	if err := b.writeGuestFiles(m, spec); err != nil {
		return fmt.Errorf("create vm %q: %w", spec.Name, err)
	}
	added, err := ensureLoopbackAddress(ctx, spec.PublicIP)
	if err != nil {
		return fmt.Errorf("create vm %q: %w", spec.Name, err)
	}
	m.AddedAddress = added
	if err := b.serve(m); err != nil {
		return fmt.Errorf("create vm %q: %w", spec.Name, err)
	}
	if err := b.saveState(m); err != nil {
		return err
	}
	if _, err := b.docker.run(ctx, "volume", "create",
		"--label", LabelAzsim+"=1", "--label", LabelDataDir+"="+b.dataDir,
		"--label", LabelResourceID+"="+spec.ResourceID, "--label", labelKey+"="+m.Key, m.Volume); err != nil {
		return fmt.Errorf("create vm %q: disk: %w", spec.Name, err)
	}
	if spec.Image != "" {
		// A VM from a captured image starts with the image's disk.
		if err := b.copyVolume(ctx, b.imageVolume(spec.Image), m.Volume); err != nil {
			return fmt.Errorf("create vm %q: disk from image: %w", spec.Name, err)
		}
	}
	if _, err := b.docker.run(ctx, b.runArgs(m)...); err != nil {
		return fmt.Errorf("create vm %q: %w", spec.Name, classifyRunError(err, spec.PublicIP))
	}
	if err := b.provision(ctx, m, spec); err != nil {
		return fmt.Errorf("create vm %q: %w", spec.Name, err)
	}
	if _, err := b.docker.run(ctx, "start", m.Container); err != nil {
		return fmt.Errorf("create vm %q: %w", spec.Name, classifyRunError(err, spec.PublicIP))
	}
	return b.waitSSH(ctx, m)
}

// provision copies onto a created machine's disk, before its first boot,
// what Azure's provisioning leaves there (ovf-env.xml) and the WireServer
// unit. Copying again over a machine that never booted is harmless.
func (b *Backend) provision(ctx context.Context, m *machine, spec vm.Spec) error {
	files, err := provisionTar(spec, time.Now())
	if err != nil {
		return err
	}
	if _, err := b.docker.runInput(ctx, files, "cp", "-", m.Container+":/"); err != nil {
		return fmt.Errorf("provisioning files: %w", err)
	}
	return nil
}

// startLocked starts an existing container and waits for sshd. A
// container that was created but never started (azsim stopped between the
// two) gets its provisioning files first.
func (b *Backend) startLocked(ctx context.Context, m *machine, spec vm.Spec) error {
	if status, err := b.containerStatus(ctx, m.Container); err == nil && status == "created" {
		if err := b.provision(ctx, m, spec); err != nil {
			return fmt.Errorf("start vm %q: %w", spec.Name, err)
		}
	}
	added, err := ensureLoopbackAddress(ctx, m.Spec.PublicIP)
	if err != nil {
		return fmt.Errorf("start vm %q: %w", spec.Name, err)
	}
	m.AddedAddress = m.AddedAddress || added
	if err := b.writeForwarderEnvs(m); err != nil {
		return fmt.Errorf("start vm %q: %w", spec.Name, err)
	}
	if err := b.serve(m); err != nil {
		return fmt.Errorf("start vm %q: %w", spec.Name, err)
	}
	b.setPower(m, false, false)
	if err := b.saveState(m); err != nil {
		return err
	}
	if _, err := b.docker.run(ctx, "start", m.Container); err != nil {
		return fmt.Errorf("start vm %q: %w", spec.Name, classifyRunError(err, m.Spec.PublicIP))
	}
	return b.waitSSH(ctx, m)
}

// stop stops a machine's container (a clean guest shutdown).
func (b *Backend) stop(ctx context.Context, resourceID string, deallocate bool) error {
	b.mu.Lock()
	m, ok := b.machines[strings.ToLower(resourceID)]
	b.mu.Unlock()
	if !ok {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := b.docker.run(ctx, "stop", "-t", strconv.Itoa(int(b.opts.StopTimeout.Seconds())), m.Container); err != nil && !isNoSuchObject(err) {
		return fmt.Errorf("stop vm %q: %w", m.Spec.Name, err)
	}
	b.setPower(m, deallocate, false)
	return b.saveState(m)
}

// suspend stops a running machine when azsim closes, to resume it later.
func (b *Backend) suspend(ctx context.Context, m *machine) error {
	if m.endpoints != nil {
		m.endpoints.close()
		m.endpoints = nil
	}
	status, err := b.containerStatus(ctx, m.Container)
	if err != nil || !isRunning(status) {
		return err
	}
	if _, err := b.docker.run(ctx, "stop", "-t", strconv.Itoa(int(b.opts.StopTimeout.Seconds())), m.Container); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	b.setPower(m, m.Deallocated, true)
	return b.saveState(m)
}

// destroy removes everything a machine has; missing pieces are fine.
func (b *Backend) destroy(ctx context.Context, m *machine) error {
	if m.endpoints != nil {
		m.endpoints.close()
		m.endpoints = nil
	}
	var errs []error
	if _, err := b.docker.run(ctx, "rm", "-f", "-v", m.Container); err != nil && !isNoSuchObject(err) {
		errs = append(errs, fmt.Errorf("remove container: %w", err))
	}
	if _, err := b.docker.run(ctx, "volume", "rm", "-f", m.Volume); err != nil && !isNoSuchObject(err) {
		errs = append(errs, fmt.Errorf("remove disk: %w", err))
	}
	if m.AddedAddress && !b.addressInUse(m) {
		if err := removeLoopbackAddress(ctx, m.Spec.PublicIP); err != nil {
			errs = append(errs, err)
		}
		m.AddedAddress = false
	}
	b.removeOrphanImage(ctx, m.Spec.Image)
	if err := os.RemoveAll(b.machineDir(m.Key)); err != nil {
		errs = append(errs, fmt.Errorf("remove state: %w", err))
	}
	if m.HostDir != filepath.Join(b.machineDir(m.Key), "host") {
		_ = os.RemoveAll(m.HostDir)
	}
	return errors.Join(errs...)
}

// removeByFilter force-removes the containers and volumes matching every filter.
func (b *Backend) removeByFilter(ctx context.Context, filters ...string) error {
	args := []string{"ps", "-aq"}
	vargs := []string{"volume", "ls", "-q"}
	for _, f := range filters {
		args = append(args, "--filter", f)
		vargs = append(vargs, "--filter", f)
	}
	var errs []error
	if out, err := b.docker.run(ctx, args...); err != nil {
		errs = append(errs, fmt.Errorf("list containers: %w", err))
	} else if ids := strings.Fields(out); len(ids) > 0 {
		if _, err := b.docker.run(ctx, append([]string{"rm", "-f", "-v"}, ids...)...); err != nil {
			errs = append(errs, fmt.Errorf("remove containers: %w", err))
		}
	}
	if out, err := b.docker.run(ctx, vargs...); err != nil {
		errs = append(errs, fmt.Errorf("list volumes: %w", err))
	} else if vols := strings.Fields(out); len(vols) > 0 {
		if _, err := b.docker.run(ctx, append([]string{"volume", "rm", "-f"}, vols...)...); err != nil {
			errs = append(errs, fmt.Errorf("remove volumes: %w", err))
		}
	}
	return errors.Join(errs...)
}

// runArgs is the `docker create` of a machine: a systemd container with the
// Docker-in-Docker rights, its ports on the VM's address, its disk for the
// inner dockerd, and the seed, sockets, CA and agent image mounted in.
func (b *Backend) runArgs(m *machine) []string {
	dir := b.machineDir(m.Key)
	host := m.Spec.ComputerName
	if host == "" {
		host = m.Spec.Name
	}
	args := []string{
		"create", "--name", m.Container, "--hostname", hostnameLabel(host),
		"--label", LabelAzsim + "=1",
		"--label", LabelDataDir + "=" + b.dataDir,
		"--label", LabelResourceID + "=" + m.Spec.ResourceID,
		"--label", labelKey + "=" + m.Key,
		"--cap-add=ALL", "--cap-drop=SYS_RESOURCE",
		"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
		"--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--device-cgroup-rule=a *:* rwm",
		"--tmpfs", "/run", "--tmpfs", "/run/lock",
		"--stop-signal", "SIGRTMIN+3",
	}
	for _, p := range m.publishPorts(b.opts.PublishPorts) {
		args = append(args, "-p", fmt.Sprintf("%s:%d:%d", m.Spec.PublicIP, p, p))
	}
	args = append(args,
		"-v", m.Volume+":"+guestDockerDir,
		"-v", filepath.Join(dir, "seed")+":"+guestSeedDir+":ro",
		"-v", filepath.Join(dir, "cloud.cfg")+":"+guestCloudCfg+":ro",
		"-v", m.HostDir+":"+guestHostDir,
	)
	if b.opts.CAFile != "" {
		args = append(args, "-v", absPath(b.opts.CAFile)+":"+guestCAFile+":ro")
	}
	if b.opts.Images.AgentTar != "" {
		args = append(args, "-v", absPath(b.opts.Images.AgentTar)+":"+guestAgentTar+":ro")
	}
	if m.Spec.Image != "" {
		return append(args, b.imageRef(m.Spec.Image))
	}
	return append(args, b.opts.Images.VM)
}

func (m *machine) publishPorts(ports []int) []int {
	seen := map[int]bool{}
	out := []int{}
	for _, p := range ports {
		if p > 0 && p < 65536 && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// waitSSH waits until sshd answers with its banner on the VM's address,
// failing early when the container stops.
func (b *Backend) waitSSH(ctx context.Context, m *machine) error {
	ctx, cancel := context.WithTimeout(ctx, b.opts.BootTimeout)
	defer cancel()
	addr := net.JoinHostPort(m.Spec.PublicIP, "22")
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		if sshBanner(ctx, addr) {
			return nil
		}
		status, err := b.containerStatus(ctx, m.Container)
		switch {
		case ctx.Err() != nil:
			return core.WithHint(fmt.Errorf("boot vm %q: sshd on %s did not answer within %s: %w", m.Spec.Name, addr, b.opts.BootTimeout, core.ErrTimeout),
				"look at the machine with: docker logs %s; docker exec %s systemctl --failed", m.Container, m.Container)
		case err != nil:
			return fmt.Errorf("boot vm %q: %w", m.Spec.Name, err)
		case status != "" && !isRunning(status) && status != "created":
			logs, _ := b.docker.run(context.WithoutCancel(ctx), "logs", "--tail", "30", m.Container)
			return fmt.Errorf("boot vm %q: the machine stopped during boot (container %s %s): %s", m.Spec.Name, m.Container, status, logs)
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// sshBanner reports whether an SSH server greets on addr. docker's port
// proxy accepts connections before the guest's sshd runs, so a connect is
// not enough: the banner is.
func sshBanner(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer func() { _ = c.Close() }()
	deadline, _ := ctx.Deadline()
	_ = c.SetReadDeadline(deadline)
	buf := make([]byte, 4)
	n, _ := c.Read(buf)
	return n == 4 && string(buf) == "SSH-"
}

// containerStatus is the container's state ("running", "exited", …) or ""
// when it does not exist.
func (b *Backend) containerStatus(ctx context.Context, name string) (string, error) {
	out, err := b.docker.run(ctx, "container", "inspect", "--format", "{{.State.Status}}", name)
	if isNoSuchObject(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return out, nil
}

// isRunning reports whether a container status is one of a machine that is up.
func isRunning(status string) bool {
	return status == "running" || status == "restarting" || status == "paused"
}

// classifyRunError explains the common `docker run/start` failure of an
// address whose ports are taken (another azsim, or a host sshd on 0.0.0.0:22).
func classifyRunError(err error, ip string) error {
	s := err.Error()
	if strings.Contains(s, "address already in use") || strings.Contains(s, "port is already allocated") {
		return core.WithHint(fmt.Errorf("%w: %w", err, core.ErrConflict),
			"another process listens on %s:22 or :2222 (a host sshd on 0.0.0.0, or another azsim using the same address)", ip)
	}
	return err
}
