package core

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"
)

// UndoTimeout bounds the clean-up of a failed or interrupted command: long
// enough for Azure to delete a VM with its NIC, disk and public IP (one to
// three minutes), short enough that a stuck cloud does not hold the
// terminal forever.
const UndoTimeout = 5 * time.Minute

// UndoContext is the context an undo runs with: it keeps ctx's values
// (progress, leftovers) but not its cancellation — an interrupt cancels
// the command's context, and the undo must still run — and it ends after
// limit (UndoTimeout when limit is not positive).
func UndoContext(ctx context.Context, limit time.Duration) (context.Context, context.CancelFunc) {
	if limit <= 0 {
		limit = UndoTimeout
	}
	return context.WithTimeout(context.WithoutCancel(ctx), limit)
}

// Leftover is something a running command has made, or is making, that
// would remain if the process stopped now: a cloud resource of a host
// being created, an agent being destroyed.
type Leftover struct {
	// Key groups the leftovers that go together (a host id, an agent id).
	Key string
	// Kind says what it is ("virtual machine", "network interface").
	Kind string
	// Name is its name where the user can find it (the Azure resource name).
	Name string
	// Remove is the command that removes it.
	Remove string
}

// Leftovers is the set of Leftover a process holds now. The CLI prints it
// when the user interrupts twice and mngr stops without undoing. Safe for
// concurrent use; the methods of a nil *Leftovers do nothing.
type Leftovers struct {
	mu    sync.Mutex
	seq   int
	items map[string]leftoverEntry
}

type leftoverEntry struct {
	Leftover
	seq int
}

// Add records l (a second Add of the same Key, Kind and Name replaces it).
func (s *Leftovers) Add(l Leftover) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.items == nil {
		s.items = map[string]leftoverEntry{}
	}
	k := l.Key + "\x00" + l.Kind + "\x00" + l.Name
	if e, ok := s.items[k]; ok {
		e.Leftover = l
		s.items[k] = e
		return
	}
	s.seq++
	s.items[k] = leftoverEntry{Leftover: l, seq: s.seq}
}

// Forget drops every leftover of key (and of the keys under it,
// "key/…"): they are gone, or they are no longer leftovers (the create
// finished and they belong to a live agent).
func (s *Leftovers) Forget(key string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.items {
		if e.Key == key || strings.HasPrefix(e.Key, key+"/") {
			delete(s.items, k)
		}
	}
}

// List returns the leftovers in the order they were added.
func (s *Leftovers) List() []Leftover {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	es := make([]leftoverEntry, 0, len(s.items))
	for _, e := range s.items {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].seq < es[j].seq })
	out := make([]Leftover, len(es))
	for i, e := range es {
		out[i] = e.Leftover
	}
	return out
}

type leftoversKey struct{}

// WithLeftovers returns ctx carrying s.
func WithLeftovers(ctx context.Context, s *Leftovers) context.Context {
	return context.WithValue(ctx, leftoversKey{}, s)
}

// LeftoversFrom returns the set ctx carries, or nil (whose methods do
// nothing).
func LeftoversFrom(ctx context.Context) *Leftovers {
	s, _ := ctx.Value(leftoversKey{}).(*Leftovers)
	return s
}
