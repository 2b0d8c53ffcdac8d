package vps

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/core"
)

// planningClient is a fakeClient that also plans, recording what it was asked.
type planningClient struct {
	*fakeClient
	got CreateInstanceRequest
}

func (p *planningClient) PlanInstance(_ context.Context, req CreateInstanceRequest) (InstancePlan, error) {
	p.got = req
	return InstancePlan{
		Resources: []core.PlannedResource{{Type: "vm", Name: "vm-" + req.HostID.Hex(), Region: req.ProviderArgs.Region}},
		Estimate:  "estimate $1/hour (prices as of test)",
		Notes:     []string{"from the client"},
	}, nil
}

func (p *planningClient) SelfStopScript() string { return "#!/bin/sh\necho self-stop-marker\n" }

func TestPlanCreateHostWritesNothingAndRendersLikeCreate(t *testing.T) {
	home := t.TempDir()
	pc := &planningClient{fakeClient: newFakeClient("203.0.113.5")}
	p, err := NewProvider(pc, Config{ProviderName: "fake", Backend: "fakecloud", LocalHostDir: home, AdminUser: "azureuser", AutoShutdownSeconds: 600})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := p.PlanCreateHost(t.Context(), core.CreateHostRequest{Name: "h1", BuildArgs: []string{"--fake-region=r9", "--git-depth=1"}})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing local: no key directory, no known_hosts, nothing at all.
	_ = filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err == nil && path != home {
			t.Errorf("plan left %s behind", path)
		}
		return nil
	})
	// Nothing in the cloud: only the read-only preflight.
	for _, c := range pc.calls {
		if c != "preflight" {
			t.Errorf("plan called %q on the client", c)
		}
	}
	if pc.got.ProviderArgs.Region != "r9" || pc.got.HostName != "h1" || pc.got.HostID != plan.HostID {
		t.Errorf("client asked for %+v", pc.got)
	}
	// The user data is what create renders for the same inputs, with the
	// keys replaced by placeholders (so no private key is printed).
	want, err := UserData(p.userDataOptions(plan.HostID, planHostKeyPEM, planHostKeyPub, planClientKey))
	if err != nil {
		t.Fatal(err)
	}
	if plan.UserData != string(want) || string(pc.got.UserData) != string(want) {
		t.Errorf("user data differs from create's rendering")
	}
	for _, wantPart := range []string{"#cloud-config", "self-stop-marker", "shutdown", planHostKeyPEM} {
		if !strings.Contains(plan.UserData, wantPart) {
			t.Errorf("user data lacks %q", wantPart)
		}
	}
	if strings.Contains(plan.UserData, "PRIVATE KEY-----") {
		t.Error("user data holds a private key")
	}
	if plan.Estimate == "" || len(plan.Resources) != 1 || plan.Provider != "fake" || plan.HostName != "h1" {
		t.Errorf("plan %+v", plan)
	}
}

func TestPlanCreateHostNeedsAPlanningClient(t *testing.T) {
	p, err := NewProvider(newFakeClient(""), Config{ProviderName: "fake", LocalHostDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.PlanCreateHost(t.Context(), core.CreateHostRequest{Name: "h1"}); !errors.Is(err, core.ErrNotSupported) {
		t.Fatalf("err = %v, want ErrNotSupported", err)
	}
}

func TestPlanCreateHostRejectsBadBuildArgs(t *testing.T) {
	pc := &planningClient{fakeClient: newFakeClient("")}
	p, err := NewProvider(pc, Config{ProviderName: "fake", LocalHostDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.PlanCreateHost(t.Context(), core.CreateHostRequest{Name: "h1", BuildArgs: []string{"--fake-zone=1"}}); !errors.Is(err, core.ErrInvalidInput) {
		t.Fatalf("err = %v, want ErrInvalidInput", err)
	}
}
