package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mngr-azure/mngr/internal/azsim/vm"
)

// lockMachine returns the VM's machine (a new one for an unknown VM), locked.
func (b *Backend) lockMachine(spec vm.Spec) *machine {
	id := strings.ToLower(spec.ResourceID)
	b.mu.Lock()
	m, ok := b.machines[id]
	if !ok {
		key := machineKey(b.dataDir, spec.ResourceID)
		m = &machine{
			Spec:      specWithoutData(spec),
			Key:       key,
			Container: containerName(spec.Name, key),
			Volume:    "azsim-" + key + "-docker",
			HostDir:   b.hostDirFor(key),
		}
		b.machines[id] = m
	}
	b.mu.Unlock()
	m.mu.Lock()
	return m
}

// refreshSpec keeps the latest identity and keys for IMDS; the address and
// the hostname are fixed when the machine is made.
func (b *Backend) refreshSpec(m *machine, spec vm.Spec) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ip, host, image := m.Spec.PublicIP, m.Spec.ComputerName, m.Spec.Image
	m.Spec = specWithoutData(spec)
	// The disk was made from the image of the create, whatever a later
	// start names.
	m.Spec.Image = image
	if ip != "" {
		m.Spec.PublicIP = ip
	}
	if host != "" {
		m.Spec.ComputerName = host
	}
}

// setPower records how the backend last left the machine. Fields read by
// Observe and IMDS change under b.mu, so those never wait for a boot.
func (b *Backend) setPower(m *machine, deallocated, resume bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m.Deallocated, m.ResumeOnOpen = deallocated, resume
}

// saveState writes the machine's state.json (atomically, by rename); the
// caller holds m.mu (or is New, before the backend is shared), and the
// fields are encoded under the table lock.
func (b *Backend) saveState(m *machine) error {
	dir := b.machineDir(m.Key)
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // read by the VM (seed)
		return fmt.Errorf("create %q: %w", dir, err)
	}
	b.mu.Lock()
	data, err := json.MarshalIndent(m, "", "  ")
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encode state of vm %q: %w", m.Spec.Name, err)
	}
	tmp := filepath.Join(dir, "state.json.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write state of vm %q: %w", m.Spec.Name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "state.json")); err != nil {
		return fmt.Errorf("write state of vm %q: %w", m.Spec.Name, err)
	}
	return nil
}

// machineDir is where a machine's state, seed and cloud config live.
func (b *Backend) machineDir(key string) string { return filepath.Join(b.root, key) }

// adoptMachines loads the machines a previous backend left in the data dir.
func (b *Backend) adoptMachines(ctx context.Context) error {
	entries, err := os.ReadDir(b.root)
	if err != nil {
		return fmt.Errorf("docker vm backend: read %q: %w", b.root, err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(b.root, e.Name(), "state.json"))
		if err != nil {
			continue
		}
		m := &machine{}
		if err := json.Unmarshal(data, m); err != nil || m.Spec.ResourceID == "" {
			continue
		}
		status, err := b.containerStatus(ctx, m.Container)
		if err != nil {
			return fmt.Errorf("docker vm backend: %w", err)
		}
		if status == "" {
			// The machine is gone; forget it.
			_ = os.RemoveAll(filepath.Join(b.root, e.Name()))
			continue
		}
		b.machines[strings.ToLower(m.Spec.ResourceID)] = m
		if err := b.writeForwarderEnvs(m); err != nil {
			return fmt.Errorf("docker vm backend: %w", err)
		}
		if err := b.serve(m); err != nil {
			return fmt.Errorf("docker vm backend: %w", err)
		}
		switch {
		case m.ResumeOnOpen && !isRunning(status):
			if added, err := ensureLoopbackAddress(ctx, m.Spec.PublicIP); err == nil {
				m.AddedAddress = m.AddedAddress || added
			}
			if _, err := b.docker.run(ctx, "start", m.Container); err != nil {
				return fmt.Errorf("docker vm backend: resume vm %q: %w", m.Spec.Name, err)
			}
		case isRunning(status) && b.arm != nil:
			// The ARM port may have changed since this VM booted.
			_, _ = b.docker.run(ctx, "exec", m.Container, "systemctl", "restart", "azsim-arm.service")
		}
		m.ResumeOnOpen = false
		if err := b.saveState(m); err != nil {
			return err
		}
	}
	return nil
}

// pruneOrphans removes machines whose azsim data dir no longer exists
// (an azsim that was killed and whose data dir was deleted).
func (b *Backend) pruneOrphans(ctx context.Context) {
	out, err := b.docker.run(ctx, "ps", "-a", "--filter", "label="+LabelAzsim, "--format", `{{.ID}} {{.Label "`+LabelDataDir+`"}}`)
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		id, dir, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || dir == "" {
			continue
		}
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			_ = b.removeByFilter(ctx, "id="+id)
			_ = b.removeByFilter(ctx, "label="+LabelDataDir+"="+dir)
		}
	}
	// Captured images (only those: they carry an image id) of gone data dirs.
	out, err = b.docker.run(ctx, "image", "ls", "--filter", "label="+LabelImageID, "--format", `{{.ID}} {{.Label "`+LabelDataDir+`"}}`)
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		id, dir, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || dir == "" {
			continue
		}
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			_, _ = b.docker.run(ctx, "image", "rm", "-f", id)
		}
	}
}

func specWithoutData(spec vm.Spec) vm.Spec {
	spec.CustomData = nil
	return spec
}
