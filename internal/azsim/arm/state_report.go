package arm

import (
	"sort"
	"strings"
)

// VMState is one VM in a StateReport.
type VMState struct {
	ID         string `json:"id"`
	PowerState string `json:"power_state"`
	Billing    bool   `json:"billing"`
}

// StateReport summarizes azsim's state for the admin API.
type StateReport struct {
	// Resources counts resources by type.
	Resources map[string]int `json:"resources"`
	VMs       []VMState      `json:"vms"`
	// BilledSeconds is the total VM-seconds billed so far, running VMs included.
	BilledSeconds float64 `json:"billed_seconds"`
	Now           string  `json:"now"`
}

// State reports resource counts, VMs and billing.
func (s *Server) State() StateReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := StateReport{Resources: map[string]int{}, VMs: []VMState{}, BilledSeconds: s.st.BilledSeconds, Now: s.nowLocked().Format("2006-01-02T15:04:05Z07:00")}
	for _, e := range s.st.Resources {
		r.Resources[e.Type]++
		if strings.EqualFold(e.Type, vmType) {
			r.VMs = append(r.VMs, VMState{ID: e.ID, PowerState: s.observedPower(e), Billing: e.BillingSince != nil})
			if e.BillingSince != nil {
				r.BilledSeconds += s.nowLocked().Sub(*e.BillingSince).Seconds()
			}
		}
	}
	sort.Slice(r.VMs, func(i, j int) bool { return r.VMs[i].ID < r.VMs[j].ID })
	return r
}
