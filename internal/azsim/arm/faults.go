package arm

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// Fault is an injected failure: requests matching Method and PathRegexp get
// an error, a delay, or a 429 storm instead of their normal answer.
type Fault struct {
	Method     string `json:"method"`
	PathRegexp string `json:"path"`
	// Nth fires only on the nth matching call (1-based); 0 fires on every call.
	Nth int `json:"nth,omitempty"`
	// Count limits how many times the fault fires; 0 is unlimited.
	Count int `json:"count,omitempty"`
	// Status, Code and Message form the error answer (when Status != 0).
	Status  int    `json:"status,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// DelaySeconds delays the request before it is served normally (or fails).
	DelaySeconds float64 `json:"delay_seconds,omitempty"`
	// RetryAfter adds a Retry-After header (seconds), as a 429 storm sends.
	RetryAfter int `json:"retry_after,omitempty"`
	// FailAfterAccept serves a matching PUT normally (201, in progress) and
	// then fails its long-running operation with Code and Message (default
	// AllocationFailed). A VM create so failed stays in provisioningState
	// Failed holding its NIC, OS disk and public IP, as Azure leaves a VM
	// after AllocationFailed or OSProvisioningTimedOut.
	FailAfterAccept bool `json:"fail_after_accept,omitempty"`

	re    *regexp.Regexp
	seen  int
	fired int
}

type faultSet struct {
	mu     sync.Mutex
	faults []*Fault
}

// AddFault installs a fault.
func (s *Server) AddFault(f Fault) error {
	re, err := regexp.Compile(f.PathRegexp)
	if err != nil {
		return fmt.Errorf("compile fault path %q: %w", f.PathRegexp, err)
	}
	f.re = re
	if f.Status == http.StatusTooManyRequests && f.Code == "" {
		f.Code = "TooManyRequests"
	}
	if f.FailAfterAccept && f.Code == "" {
		f.Code = "AllocationFailed"
		f.Message = "Allocation failed. We do not have sufficient capacity for the requested VM size in this region. Read more about improving likelihood of allocation success at http://aka.ms/allocation-guidance"
	}
	if f.Code != "" && f.Message == "" {
		f.Message = "Injected fault " + f.Code + "."
	}
	s.fault.mu.Lock()
	defer s.fault.mu.Unlock()
	s.fault.faults = append(s.fault.faults, &f)
	return nil
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.fault.mu.Lock()
	defer s.fault.mu.Unlock()
	s.fault.faults = nil
}

// match returns a copy of the fault that fires for this request, if any.
func (fs *faultSet) match(method, path string) *Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.faults {
		if f.Method != "" && f.Method != method || !f.re.MatchString(path) {
			continue
		}
		f.seen++
		if f.Nth != 0 && f.seen != f.Nth {
			continue
		}
		if f.Count != 0 && f.fired >= f.Count {
			continue
		}
		f.fired++
		c := *f
		return &c
	}
	return nil
}

// apply serves the fault; done is false when the request continues normally.
func (f *Fault) apply(ctx context.Context, w http.ResponseWriter) (done bool) {
	if f.DelaySeconds > 0 {
		t := time.NewTimer(time.Duration(f.DelaySeconds * float64(time.Second)))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if f.Status == 0 || f.FailAfterAccept {
		return false
	}
	e := errf(f.Status, f.Code, "%s", f.Message)
	if f.RetryAfter > 0 {
		e.Header = http.Header{"Retry-After": {strconv.Itoa(f.RetryAfter)}}
	}
	writeError(w, e)
	return true
}

// afterAccept is the error a fail_after_accept fault ends the accepted
// request's operation with; nil for any other fault.
func (f *Fault) afterAccept() *armError {
	if !f.FailAfterAccept {
		return nil
	}
	status := f.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	return errf(status, f.Code, "%s", f.Message)
}
