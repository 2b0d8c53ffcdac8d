package azure

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/mngr-azure/mngr/internal/core"
)

const profileJSON = `{"installationId":"x","subscriptions":[
 {"id":"11111111-1111-1111-1111-111111111111","isDefault":false,"tenantId":"t"},
 {"id":"22222222-2222-2222-2222-222222222222","isDefault":true,"tenantId":"t"}]}`

func TestResolveSubscription(t *testing.T) {
	tests := []struct {
		name       string
		configured string
		env        map[string]string
		profile    string // written to AZURE_CONFIG_DIR/azureProfile.json when set
		want       string
		wantErr    error
	}{
		{name: "config wins", configured: "c", env: map[string]string{"AZURE_SUBSCRIPTION_ID": "e"}, profile: profileJSON, want: "c"},
		{name: "env next", env: map[string]string{"AZURE_SUBSCRIPTION_ID": "e"}, profile: profileJSON, want: "e"},
		{name: "profile default", profile: profileJSON, want: "22222222-2222-2222-2222-222222222222"},
		{name: "profile with BOM", profile: "\xef\xbb\xbf" + profileJSON, want: "22222222-2222-2222-2222-222222222222"},
		{name: "no default", profile: `{"subscriptions":[{"id":"a","isDefault":false}]}`, wantErr: core.ErrUnavailable},
		{name: "torn file", profile: `{"subscriptions":[{"id":"a","isDef`, wantErr: core.ErrUnavailable},
		{name: "no profile", wantErr: core.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.profile != "" {
				if err := os.WriteFile(filepath.Join(dir, "azureProfile.json"), []byte(tt.profile), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env := map[string]string{"AZURE_CONFIG_DIR": dir}
			for k, v := range tt.env {
				env[k] = v
			}
			got, err := ResolveSubscription(tt.configured, func(k string) string { return env[k] })
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || core.HintOf(err) == "" {
					t.Fatalf("err = %v (hint %q), want %v with a hint", err, core.HintOf(err), tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ResolveSubscription = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestPublicAuthority(t *testing.T) {
	for host, want := range map[string]bool{
		cloud.AzurePublic.ActiveDirectoryAuthorityHost:     true,
		"https://login.microsoftonline.com":                true,
		cloud.AzureChina.ActiveDirectoryAuthorityHost:      true,
		cloud.AzureGovernment.ActiveDirectoryAuthorityHost: true,
		"https://127.0.0.1:8443/":                          false,
		"https://adfs.local.azurestack.external/adfs":      false,
	} {
		if got := publicAuthority(host); got != want {
			t.Errorf("publicAuthority(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestResolveSubscriptionRetriesTornRead(t *testing.T) {
	reads := 0
	old := readFile
	t.Cleanup(func() { readFile = old })
	readFile = func(string) ([]byte, error) {
		reads++
		if reads == 1 {
			return []byte(profileJSON[:40]), nil // the CLI is mid-rewrite
		}
		return []byte(profileJSON), nil
	}
	got, err := ResolveSubscription("", func(k string) string { return map[string]string{"AZURE_CONFIG_DIR": "/x"}[k] })
	if err != nil || got != "22222222-2222-2222-2222-222222222222" || reads != 2 {
		t.Fatalf("got %q, %v after %d reads; want the default subscription after 2 reads", got, err, reads)
	}
}

// failingCredential fails every token request with err.
type failingCredential struct{ err error }

func (c failingCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, c.err
}

func TestTokenErrorsAreUnauthorizedWithSignInHelp(t *testing.T) {
	sdkErr := errors.New("DefaultAzureCredential: failed to acquire a token")
	cred := signInErrors{TokenCredential: failingCredential{sdkErr}}
	_, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if !errors.Is(err, core.ErrUnauthorized) || !errors.Is(err, sdkErr) {
		t.Fatalf("GetToken error %v: want not-authorized wrapping the SDK's error", err)
	}
	if h := core.HintOf(err); !strings.Contains(h, "az login") {
		t.Errorf("hint %q: want how to sign in", h)
	}
	// A cancelled command is not a sign-in failure.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{}); errors.Is(err, core.ErrUnauthorized) {
		t.Errorf("cancelled GetToken classified as not authorized: %v", err)
	}
}

// The Azure CLI credential signs in to the CLI's current cloud, so for a
// sovereign cloud the sign-in hint says to point the CLI at it first; the
// public cloud's hint does not mention `az cloud set`.
func TestSignInHintNamesTheSovereignCloud(t *testing.T) {
	sdkErr := errors.New("AzureCLICredential: please run 'az login'")
	for _, tt := range []struct {
		cloud, want string
	}{
		{"AzureChina", "az cloud set --name AzureChinaCloud"},
		{"AzureUSGovernment", "az cloud set --name AzureUSGovernment"},
		{"AzurePublic", ""},
	} {
		t.Run(tt.cloud, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Cloud = tt.cloud
			cc, err := cfg.cloudConfig()
			if err != nil {
				t.Fatal(err)
			}
			cred := signInErrors{TokenCredential: failingCredential{sdkErr}, help: signInHelp(cc)}
			_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{})
			hint := core.HintOf(err)
			if !strings.Contains(hint, "az login") {
				t.Errorf("hint %q lacks az login", hint)
			}
			if tt.want == "" && strings.Contains(hint, "az cloud set") {
				t.Errorf("public cloud hint %q mentions az cloud set", hint)
			}
			if tt.want != "" && (!strings.Contains(hint, tt.want) || strings.Index(hint, tt.want) > strings.Index(hint, "az login")) {
				t.Errorf("hint %q: want %q before az login", hint, tt.want)
			}
			// No subscription found: the profile read was the CLI's current cloud's.
			_, err = NewClient("azure", cfg, ClientOptions{Getenv: func(k string) string {
				if k == "AZURE_CONFIG_DIR" {
					return t.TempDir()
				}
				return ""
			}})
			if !errors.Is(err, core.ErrUnavailable) {
				t.Fatalf("NewClient without a subscription: %v", err)
			}
			if got := strings.Contains(core.HintOf(err), "az cloud set"); got != (tt.want != "") {
				t.Errorf("no-subscription hint %q: mentions az cloud set = %v", core.HintOf(err), got)
			}
		})
	}
}
