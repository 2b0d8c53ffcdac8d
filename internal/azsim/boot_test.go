package azsim_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/azsim"
	"github.com/mngr-azure/mngr/internal/azsim/vm"
)

// slowBackend boots a machine only when the test says so.
type slowBackend struct {
	vm.None
	release chan error
}

func (slowBackend) Name() string { return "slow" }

func (b slowBackend) Create(ctx context.Context, _ vm.Spec) error {
	select {
	case err := <-b.release:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Minute):
		return errors.New("test never released the boot")
	}
}

// A VM whose machine boots slowly answers its PUT at once ("Creating"),
// keeps the rest of ARM serving, refuses power actions and deletes until
// the boot ends, and then succeeds — or fails the operation and disappears.
func TestVMCreateDoesNotBlockWhileBooting(t *testing.T) {
	be := slowBackend{release: make(chan error)}
	s := startSimOpts(t, azsim.Options{NewBackend: func(context.Context, azsim.BackendInfo) (vm.Backend, error) { return be, nil }})
	c := newClients(t, s)
	ctx := context.Background()
	nicID, _ := c.network(ctx, t, "rg-boot", "b1")

	p, err := c.vm.BeginCreateOrUpdate(ctx, "rg-boot", "b1", vmParams(nicID, "Standard_B1s"), nil)
	if err != nil {
		t.Fatalf("PUT while booting: %v", err)
	}
	got, err := c.vm.Get(ctx, "rg-boot", "b1", nil)
	if err != nil {
		t.Fatalf("GET while booting: %v", err)
	}
	if st := *got.Properties.ProvisioningState; st != "Creating" {
		t.Errorf("provisioningState while booting = %q, want Creating", st)
	}
	if _, err := c.vm.BeginDeallocate(ctx, "rg-boot", "b1", nil); errCode(err) != "OperationNotAllowed" {
		t.Errorf("deallocate while booting: %v, want OperationNotAllowed", err)
	}
	if _, err := c.vm.BeginDelete(ctx, "rg-boot", "b1", nil); errCode(err) != "OperationNotAllowed" {
		t.Errorf("delete while booting: %v, want OperationNotAllowed", err)
	}
	if p.Done() {
		t.Fatal("create operation done before the machine booted")
	}
	be.release <- nil
	done, err := p.PollUntilDone(ctx, poll)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if st := *done.Properties.ProvisioningState; st != "Succeeded" {
		t.Errorf("provisioningState after boot = %q", st)
	}
	if ps := c.powerState(ctx, t, "rg-boot", "b1"); ps != "running" {
		t.Errorf("power after boot = %q", ps)
	}
	if _, billing, _ := s.billing(t, *done.ID); !billing {
		t.Errorf("booted VM not billing")
	}

	nic2, _ := c.network(ctx, t, "rg-boot", "b2")
	p2, err := c.vm.BeginCreateOrUpdate(ctx, "rg-boot", "b2", vmParams(nic2, "Standard_B1s"), nil)
	if err != nil {
		t.Fatal(err)
	}
	be.release <- errors.New("disk image corrupt")
	if _, err := p2.PollUntilDone(ctx, poll); errCode(err) != "VMStartFailed" {
		t.Fatalf("failed boot: %v, want VMStartFailed", err)
	}
	if _, err := c.vm.Get(ctx, "rg-boot", "b2", nil); errCode(err) != "ResourceNotFound" {
		t.Errorf("VM after failed boot: %v, want ResourceNotFound", err)
	}
	// As after a failed Azure create, the NIC stays reserved for that VM.
	if _, err := c.vm.BeginCreateOrUpdate(ctx, "rg-boot", "other", vmParams(nic2, "Standard_B1s"), nil); errCode(err) != "NicReservedForAnotherVm" {
		t.Errorf("reusing the NIC of a failed create: %v, want NicReservedForAnotherVm", err)
	}
}
