package core

import "context"

// PlannedResource is one cloud resource a create would make.
type PlannedResource struct {
	// Type is the resource type, e.g. "Microsoft.Compute/virtualMachines".
	Type string `json:"type"`
	// Name is the resource name the create would use.
	Name   string `json:"name"`
	Region string `json:"region,omitempty"`
	// Size is the VM size, for VMs only.
	Size string `json:"size,omitempty"`
	// Spot marks a Spot-priority VM.
	Spot bool              `json:"spot,omitempty"`
	Tags map[string]string `json:"tags,omitempty"`
}

// CreatePlan is what a create would do, computed without changing anything.
type CreatePlan struct {
	Provider string `json:"provider"`
	HostName string `json:"host_name"`
	// HostID is an id drawn for the plan only; a real create draws a new one.
	HostID    HostID            `json:"host_id,omitempty"`
	Resources []PlannedResource `json:"resources"`
	// UserData is the cloud-init document the VM would receive, with the
	// key material replaced by placeholders.
	UserData string `json:"user_data,omitempty"`
	// Estimate is a human-readable price estimate, labelled with the date
	// of the prices it comes from ("" when the provider has none).
	Estimate string `json:"estimate,omitempty"`
	// HourlyUSD is the estimated hourly price in US dollars, when known.
	HourlyUSD *float64 `json:"hourly_usd_estimate,omitempty"`
	// Notes are anything else the user should know (failover order, skips).
	Notes []string `json:"notes,omitempty"`
}

// CreatePlanner is a provider that can describe a create without making
// any change: no cloud write, no local key, known_hosts or state file.
type CreatePlanner interface {
	PlanCreateHost(ctx context.Context, req CreateHostRequest) (*CreatePlan, error)
}
