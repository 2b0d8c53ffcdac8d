package vps

import (
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
)

func TestSeenInstances(t *testing.T) {
	now := time.Unix(1000, 0)
	s := &seenInstances{now: func() time.Time { return now }}
	s.remember([]Instance{
		{HostID: "host-a", Status: StatusActive},
		{HostID: "host-b", Status: StatusStopped},
		{HostID: "host-c", Status: StatusActive}, {HostID: "host-c", Status: StatusActive},
	})
	if _, ok := s.running("host-a"); !ok {
		t.Error("fresh running instance not served")
	}
	for _, id := range []core.HostID{"host-b", "host-c", "host-x"} {
		if _, ok := s.running(id); ok {
			t.Errorf("%s served (stopped, ambiguous or unknown)", id)
		}
	}
	now = now.Add(seenTTL + time.Second)
	if _, ok := s.running("host-a"); ok {
		t.Error("stale instance served")
	}
	now = now.Add(-seenTTL)
	s.forget("host-a")
	if _, ok := s.running("host-a"); ok {
		t.Error("forgotten instance served")
	}
}
