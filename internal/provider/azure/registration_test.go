package azure

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
)

// slowNetworkRegistration makes Microsoft.Network register slowly on a
// fake clock: each GET of it moves the clock by step, and it shows
// Registered once registerTakes has passed since the register call
// (never when registerTakes is 0). The other namespaces are registered.
func slowNetworkRegistration(x *infraFakes, c *Client, step, registerTakes time.Duration) {
	now := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return now }
	var registeredAt time.Time
	x.f.resources.ProvidersServer.Get = func(_ context.Context, ns string, _ *armresources.ProvidersClientGetOptions) (resp azfake.Responder[armresources.ProvidersClientGetResponse], errResp azfake.ErrorResponder) {
		state := "Registered"
		if ns == "Microsoft.Network" {
			now = now.Add(step)
			switch {
			case registeredAt.IsZero():
				state = "NotRegistered"
			case registerTakes == 0 || now.Before(registeredAt.Add(registerTakes)):
				state = "Registering"
			}
		}
		resp.SetResponse(http.StatusOK, armresources.ProvidersClientGetResponse{Provider: armresources.Provider{Namespace: to.Ptr(ns), RegistrationState: to.Ptr(state)}}, nil)
		return
	}
	x.f.resources.ProvidersServer.Register = func(_ context.Context, ns string, _ *armresources.ProvidersClientRegisterOptions) (resp azfake.Responder[armresources.ProvidersClientRegisterResponse], errResp azfake.ErrorResponder) {
		if ns == "Microsoft.Network" && registeredAt.IsZero() {
			registeredAt = now
		}
		resp.SetResponse(http.StatusOK, armresources.ProvidersClientRegisterResponse{}, nil)
		return
	}
}

// registrationNotes are the notes about Microsoft.Network.
func registrationNotes(p *recordingProgress) []string {
	var out []string
	for _, n := range p.notes {
		if strings.HasPrefix(n, "Microsoft.Network ") {
			out = append(out, n)
		}
	}
	return out
}

func TestPrepareWaitsForASlowRegistration(t *testing.T) {
	x := newInfraFakes(http.StatusCreated)
	c := newFakeClient(t, x.f)
	// Registering takes 7 minutes: longer than the 5 minutes prepare used to allow.
	slowNetworkRegistration(x, c, 30*time.Second, 7*time.Minute)
	prog := &recordingProgress{}
	res, err := c.Prepare(core.WithProgress(t.Context(), prog), PrepareOptions{})
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	if !createdFlags(res)["resource-provider Microsoft.Network"] {
		t.Errorf("Microsoft.Network not reported registered: %v", createdFlags(res))
	}
	// The state shows at the first poll (30 s in) and then once a minute
	// until it is Registered at 7 minutes.
	var want []string
	for at := 30 * time.Second; at < 7*time.Minute; at += time.Minute {
		want = append(want, "Microsoft.Network is Registering after "+at.String()+" (waiting up to 15m0s)")
	}
	if d := cmp.Diff(want, registrationNotes(prog)); d != "" {
		t.Errorf("registration notes (-want +got)\n%s", d)
	}
}

func TestPrepareRegistrationTimeoutSaysWhatToDo(t *testing.T) {
	x := newInfraFakes(http.StatusCreated)
	c := newFakeClient(t, x.f)
	slowNetworkRegistration(x, c, time.Minute, 0)
	prog := &recordingProgress{}
	_, err := c.Prepare(core.WithProgress(t.Context(), prog), PrepareOptions{})
	if !errors.Is(err, core.ErrTimeout) || !strings.Contains(err.Error(), "still Registering after 15m0s") {
		t.Fatalf("err = %v, want ErrTimeout after 15m0s", err)
	}
	hint := core.HintOf(err)
	for _, want := range []string{"az provider show -n Microsoft.Network", "re-run `mngr azure prepare --provider azure`", "15 minutes or more"} {
		if !strings.Contains(hint, want) {
			t.Errorf("hint %q lacks %q", hint, want)
		}
	}
	// Nothing after the registration was attempted.
	if x.exists["rg"] {
		t.Error("prepare went on to create the resource group")
	}
	if n := len(registrationNotes(prog)); n != 15 {
		t.Errorf("%d registration notes, want one a minute for 15 minutes: %v", n, registrationNotes(prog))
	}
}
