//go:build azsim

package azure

import (
	"errors"
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/core"
)

// A subscription or resource group that does not exist is an error with
// the setting to fix, never an empty list: VMs billed elsewhere would hide
// behind "No agents found".
func TestMissingScopeIsAnError(t *testing.T) {
	e := newFaultEnv(t)
	ctx := t.Context()
	tests := []struct {
		name     string
		c        *Client
		wantMsg  string
		wantHint string
	}{
		{"resource group never prepared", e.c, `resource group "` + e.c.cfg.ResourceGroup + `" does not exist`, "mngr azure prepare --provider azure"},
		{"wrong subscription", e.clientAs(e.ep.ClientID, e.ep.ClientSecret, "0b1f6471-1bf0-4dda-aec3-cb9272f09590"), "subscription 0b1f6471-1bf0-4dda-aec3-cb9272f09590", "subscription_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ins, err := tt.c.ListInstances(ctx)
			if !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(core.HintOf(err), tt.wantHint) {
				t.Errorf("list: %v instances, err %v (hint %q); want %q with hint %q", len(ins), err, core.HintOf(err), tt.wantMsg, tt.wantHint)
			}
			if _, err := tt.c.GetInstance(ctx, "host-0123"); errors.Is(err, core.ErrNotFound) || err == nil {
				t.Errorf("get instance: %v, want the scope error, not not-found", err)
			}
			if _, err := tt.c.CollectGarbage(ctx, true); !errors.Is(err, core.ErrInvalidInput) {
				t.Errorf("gc: %v, want the scope error", err)
			}
			if err := tt.c.DestroyInstance(ctx, "host-0123"); err == nil {
				t.Error("destroy in a missing scope reported success")
			}
		})
	}
}
