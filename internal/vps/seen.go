package vps

import (
	"sync"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
)

// seenTTL is how long a listed instance stands in for a fresh lookup.
const seenTTL = 15 * time.Second

// seenInstances remembers what the last ListInstances returned, so that
// connecting to the hosts a listing has just found costs no further cloud
// calls: `mngr list` stays a constant number of calls whatever the number
// of hosts. Only running instances are served from it, a host id seen on
// more than one instance never is (GetInstance reports that conflict), and
// every change this process makes to a host forgets it first.
type seenInstances struct {
	mu   sync.Mutex
	at   time.Time
	byID map[core.HostID]*Instance // nil value: ambiguous id
	now  func() time.Time
}

func (s *seenInstances) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

func (s *seenInstances) remember(insts []Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at = s.clock()
	s.byID = make(map[core.HostID]*Instance, len(insts))
	for i := range insts {
		id := insts[i].HostID
		if _, dup := s.byID[id]; dup {
			s.byID[id] = nil
			continue
		}
		s.byID[id] = &insts[i]
	}
}

// running returns the listed instance of id when it is fresh and running.
func (s *seenInstances) running(id core.HostID) (Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.byID[id]
	if in == nil || in.Status != StatusActive || s.clock().Sub(s.at) > seenTTL {
		return Instance{}, false
	}
	return *in, true
}

func (s *seenInstances) forget(id core.HostID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
}
