package arm

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// entry is one stored ARM resource: its canonical id, type and the JSON of
// its SDK model as ARM would render it.
type entry struct {
	ID    string          `json:"id"`
	Type  string          `json:"type"`
	Model json.RawMessage `json:"model"`
	// Created orders list results.
	Created time.Time `json:"created"`
	// VM-only runtime state.
	Power        string     `json:"power,omitempty"`
	BillingSince *time.Time `json:"billingSince,omitempty"`
	// Generalized marks a VM that was generalized: it can be captured, never started again.
	Generalized bool `json:"generalized,omitempty"`
}

// snapshot is everything azsim persists.
type snapshot struct {
	Resources map[string]*entry `json:"resources"`
	// Providers maps a namespace (lowercase) to its registration state.
	Providers map[string]string `json:"providers"`
	// ProviderRegisteredAt is when a Registering namespace becomes Registered.
	ProviderRegisteredAt map[string]time.Time `json:"providerRegisteredAt"`
	// NICReservations maps a NIC id (lowercase) to the VM id and expiry of its reservation.
	NICReservations map[string]nicReservation `json:"nicReservations"`
	// ClockOffset is how far the admin API moved the clock.
	ClockOffset time.Duration `json:"clockOffset"`
	// BilledSeconds accumulates billed VM-seconds of VMs that stopped billing.
	BilledSeconds float64 `json:"billedSeconds"`
	// NextIP is the next public address index in 127.77.0.0/16.
	NextIP int `json:"nextIP"`
	// QuotaLimits are the vCPU limits the admin API set, by usage row
	// (lowercase); rows not here keep the default table's.
	QuotaLimits map[string]int `json:"quotaLimits,omitempty"`
}

type nicReservation struct {
	VMID  string    `json:"vmId"`
	Until time.Time `json:"until"`
}

func newSnapshot() *snapshot {
	return &snapshot{
		Resources:            map[string]*entry{},
		Providers:            map[string]string{},
		ProviderRegisteredAt: map[string]time.Time{},
		NICReservations:      map[string]nicReservation{},
		NextIP:               firstIPIndex(),
	}
}

// firstIPIndex starts a new azsim's public addresses in a random /24 of
// 127.77.0.0/16 (third octet 0–249), so azsims running side by side on one
// machine (parallel test packages, a demo next to a test) do not hand out
// the same address: with the docker backend that is a port clash.
func firstIPIndex() int {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 1
	}
	return 254*(int(binary.BigEndian.Uint16(b[:]))%250) + 1
}

func loadSnapshot(path string) (*snapshot, error) {
	b, err := os.ReadFile(path) //nolint:gosec // azsim's own state file in its data dir
	if errors.Is(err, os.ErrNotExist) {
		return newSnapshot(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state %q: %w", path, err)
	}
	s := newSnapshot()
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("decode state %q: %w", path, err)
	}
	return s, nil
}

// writeFileAtomic writes b to path through a temp file and a rename.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	return nil
}

// WriteFileAtomic writes b to path through a temp file and a rename.
func WriteFileAtomic(path string, b []byte, mode os.FileMode) error {
	return writeFileAtomic(path, b, mode)
}

func (s *snapshot) get(id string) *entry { return s.Resources[strings.ToLower(id)] }

func (s *snapshot) put(e *entry) { s.Resources[strings.ToLower(e.ID)] = e }

func (s *snapshot) del(id string) { delete(s.Resources, strings.ToLower(id)) }

// children returns the entries whose id starts with prefix + "/", sorted by creation.
func (s *snapshot) under(prefix string) []*entry {
	p := strings.ToLower(prefix) + "/"
	var out []*entry
	for k, e := range s.Resources {
		if strings.HasPrefix(k, p) {
			out = append(out, e)
		}
	}
	sortEntries(out)
	return out
}

// ofType returns the entries of a type (case-insensitive) under prefix.
func (s *snapshot) ofType(prefix, typ string) []*entry {
	var out []*entry
	for _, e := range s.under(prefix) {
		if strings.EqualFold(e.Type, typ) {
			out = append(out, e)
		}
	}
	return out
}

func sortEntries(es []*entry) {
	sort.Slice(es, func(i, j int) bool {
		if !es[i].Created.Equal(es[j].Created) {
			return es[i].Created.Before(es[j].Created)
		}
		return es[i].ID < es[j].ID
	})
}
