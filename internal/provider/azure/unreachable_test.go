package azure

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v4"

	"github.com/mngr-azure/mngr/internal/core"
)

type staticToken struct{}

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// An ARM endpoint that refuses connections, or whose certificate this
// machine does not trust, fails at once (no retries) and says so, with a
// network or CA hint, not as a sign-in problem.
func TestUnreachableEndpointFailsFast(t *testing.T) {
	// A loopback port with nothing listening.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String()
	_ = l.Close()
	untrusted := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	untrusted.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is the point
	untrusted.StartTLS()
	defer untrusted.Close()
	tests := []struct {
		name, endpoint, want, hint string
	}{
		{"refused", closed, "cannot reach " + closed + ": connection refused", "network"},
		{"untrusted certificate", untrusted.URL, "cannot reach " + untrusted.URL + ": its certificate is not trusted by this machine", "trust store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Endpoint: tt.endpoint, Audience: "https://management.example"},
			}}
			rg, err := armresources.NewResourceGroupsClient("00000000-0000-0000-0000-000000000000", staticToken{}, armOptions(cfg, nil))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = rg.Get(t.Context(), "rg", nil)
			took := time.Since(start)
			err = classify(err, "read resource group rg", "", "")
			if msg := core.Describe(err); !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("message %q, want it to hold %q", msg, tt.want)
			}
			if !errors.Is(err, core.ErrUnavailable) || errors.Is(err, core.ErrUnauthorized) {
				t.Errorf("category of %v: want unavailable, not unauthorized", err)
			}
			if h := core.HintOf(err); !strings.Contains(h, tt.hint) || strings.Contains(h, "az login") {
				t.Errorf("hint %q, want it to hold %q and not az login", h, tt.hint)
			}
			if took > 900*time.Millisecond {
				t.Errorf("took %s: it was retried", took)
			}
		})
	}
	// A credential whose sign-in host cannot be reached is not "not authorized".
	cred := signInErrors{TokenCredential: failingCredential{&unreachableError{endpoint: closed, why: "connection refused", err: errors.New("dial")}}}
	_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{})
	if errors.Is(err, core.ErrUnauthorized) || !errors.Is(err, core.ErrUnavailable) || strings.Contains(core.HintOf(err), "az login") {
		t.Errorf("sign-in host unreachable: %v (hint %q)", err, core.HintOf(err))
	}
}
