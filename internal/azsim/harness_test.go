package azsim_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/mngr-azure/mngr/internal/azsim"
)

// sim is a running azsim plus SDK options that reach it.
type sim struct {
	dir  string
	ep   azsim.Endpoint
	cred azcore.TokenCredential
	opts *arm.ClientOptions
	http *http.Client
	stop func()
}

// startSim runs azsim on dir (a new temp dir when "") until the test ends.
func startSim(t *testing.T, dir string) *sim {
	t.Helper()
	return startSimOpts(t, azsim.Options{DataDir: dir})
}

// startSimOpts runs azsim with opts (a new temp data dir when opts.DataDir is "").
func startSimOpts(t *testing.T, opts azsim.Options) *sim {
	t.Helper()
	dir := opts.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan azsim.Endpoint, 1)
	done := make(chan error, 1)
	go func() {
		opts.DataDir = dir
		opts.Ready = func(ep azsim.Endpoint) { ready <- ep }
		done <- azsim.Run(ctx, opts)
	}()
	var ep azsim.Endpoint
	select {
	case ep = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("azsim did not start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("azsim did not start within 60s")
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("azsim stopped with %v", err)
		}
	}
	t.Cleanup(stop)
	pem, err := os.ReadFile(ep.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	t.Setenv("AZURE_TENANT_ID", ep.TenantID)
	t.Setenv("AZURE_CLIENT_ID", ep.ClientID)
	t.Setenv("AZURE_CLIENT_SECRET", ep.ClientSecret)
	t.Setenv("AZURE_AUTHORITY_HOST", ep.AuthorityHost)
	t.Setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
	copts := azcore.ClientOptions{
		Transport: hc,
		Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: ep.AuthorityHost, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: ep.ARM, Audience: ep.Audience},
		}},
		Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond},
	}
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatalf("credential: %v", err)
	}
	return &sim{dir: dir, ep: ep, cred: cred, opts: &arm.ClientOptions{ClientOptions: copts, DisableRPRegistration: true}, http: hc, stop: stop}
}

func policyScope(audience string) policy.TokenRequestOptions {
	return policy.TokenRequestOptions{Scopes: []string{strings.TrimRight(audience, "/") + "/.default"}}
}
