package core

// HostCost is what a host costs as far as its provider's price table
// knows, in US dollars. A nil price is one the table does not know.
type HostCost struct {
	// ComputePerHour is the price of an hour of the host running.
	ComputePerHour *float64 `json:"compute_usd_per_hour"`
	// DiskPerMonth is the price of a month of the host's disk, billed
	// while it runs and while it is stopped (deallocated) alike.
	DiskPerMonth *float64 `json:"disk_usd_per_month"`
	// SoFar is the estimate of what the host has cost since it was made.
	SoFar *float64 `json:"estimate_so_far_usd"`
	// Basis says what the figures assume (prices' date, Spot discount,
	// how running hours were counted).
	Basis string `json:"basis"`
}

// Free is the cost of a host that costs nothing of its own (this machine).
func Free() *HostCost {
	zero := 0.0
	return &HostCost{ComputePerHour: &zero, DiskPerMonth: &zero, SoFar: &zero, Basis: "this machine: mngr adds no cost"}
}
