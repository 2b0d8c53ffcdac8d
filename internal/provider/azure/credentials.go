package azure

import (
	"bytes"
	"context"
	tlspkg "crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/mngr-azure/mngr/internal/core"
)

// credentialHelp is the next step shown when no credential or subscription is found.
const credentialHelp = "run `az login` (then optionally `az account set --subscription <id>`), or export " +
	"AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET for a service principal; pin a subscription with " +
	"subscription_id in [providers.<name>] or AZURE_SUBSCRIPTION_ID"

// azCLICloudName is the Azure CLI's name of a sovereign cloud ("" for the
// public cloud and custom endpoints). The CLI signs in to, and its
// credential takes tokens from, the CLI's current cloud (`az cloud set`),
// whatever cloud mngr's settings name.
func azCLICloudName(cfg cloud.Configuration) string {
	switch cfg.ActiveDirectoryAuthorityHost {
	case cloud.AzureChina.ActiveDirectoryAuthorityHost:
		return "AzureChinaCloud"
	case cloud.AzureGovernment.ActiveDirectoryAuthorityHost:
		return "AzureUSGovernment"
	}
	return ""
}

// signInHelp is credentialHelp for the cloud mngr talks to: for a
// sovereign cloud it first points the Azure CLI at that cloud.
func signInHelp(cfg cloud.Configuration) string {
	name := azCLICloudName(cfg)
	if name == "" {
		return credentialHelp
	}
	return fmt.Sprintf("this provider uses %s: run `az cloud set --name %s` before `az login` (the Azure CLI credential signs in to the CLI's current cloud, which is AzureCloud unless set); then ", name, name) + credentialHelp
}

// cloudConfig returns the cloud the block points at.
func (c Config) cloudConfig() (cloud.Configuration, error) {
	custom := c.ResourceManagerEndpoint != "" || c.ResourceManagerAudience != "" || c.AuthorityHost != ""
	if custom && c.Cloud != "" {
		return cloud.Configuration{}, invalid("cloud", "set either cloud or resource_manager_endpoint/resource_manager_audience/authority_host, not both")
	}
	if custom {
		if c.ResourceManagerEndpoint == "" || c.ResourceManagerAudience == "" || c.AuthorityHost == "" {
			return cloud.Configuration{}, invalid("resource_manager_endpoint", "resource_manager_endpoint, resource_manager_audience and authority_host must be set together")
		}
		for _, kv := range [][2]string{{"resource_manager_endpoint", c.ResourceManagerEndpoint}, {"authority_host", c.AuthorityHost}} {
			u, err := url.Parse(kv[1])
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return cloud.Configuration{}, invalid(kv[0], "%q is not an http(s) URL", kv[1])
			}
		}
		return cloud.Configuration{
			ActiveDirectoryAuthorityHost: c.AuthorityHost,
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Endpoint: c.ResourceManagerEndpoint, Audience: c.ResourceManagerAudience},
			},
		}, nil
	}
	switch c.Cloud {
	case "", "AzurePublic", "AzureCloud":
		return cloud.AzurePublic, nil
	case "AzureChina", "AzureChinaCloud":
		return cloud.AzureChina, nil
	case "AzureUSGovernment", "AzureUSGovernmentCloud":
		return cloud.AzureGovernment, nil
	}
	return cloud.Configuration{}, invalid("cloud", "%q: valid clouds are AzurePublic, AzureChina, AzureUSGovernment", c.Cloud)
}

// publicAuthority reports whether host is one of the public clouds' own Entra ID hosts.
func publicAuthority(host string) bool {
	norm := func(s string) string { return strings.TrimSuffix(strings.ToLower(s), "/") }
	for _, c := range []cloud.Configuration{cloud.AzurePublic, cloud.AzureChina, cloud.AzureGovernment} {
		if norm(c.ActiveDirectoryAuthorityHost) == norm(host) {
			return true
		}
	}
	return false
}

// newCredential builds DefaultAzureCredential for the configured cloud. Instance
// discovery is disabled for any authority that is not a public cloud's own, so
// MSAL never looks up Microsoft's login host for Azure Stack or an emulator.
func newCredential(cfg cloud.Configuration, getenv func(string) string) (azcore.TokenCredential, error) {
	authority := cfg.ActiveDirectoryAuthorityHost
	if v := getenv("AZURE_AUTHORITY_HOST"); v != "" {
		authority = v
	}
	opts := &azidentity.DefaultAzureCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cfg, PerRetryPolicies: []policy.Policy{failFastPolicy{}, debugPolicy{}}},
		DisableInstanceDiscovery: !publicAuthority(authority),
	}
	cred, err := azidentity.NewDefaultAzureCredential(opts)
	if err != nil {
		return nil, core.WithHint(fmt.Errorf("create azure credential: %w: %w", err, core.ErrUnavailable), "%s", signInHelp(cfg))
	}
	return signInErrors{TokenCredential: cred, help: signInHelp(cfg)}, nil
}

// signInErrors gives the token errors of a credential mngr's category and
// next step: every ARM call that cannot get a token then fails as "not
// authorized" with how to sign in, instead of as the SDK's bare text.
type signInErrors struct {
	azcore.TokenCredential
	// help is how to sign in to the configured cloud (signInHelp).
	help string
}

// GetToken is the wrapped credential's, with its error classified.
func (c signInErrors) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := c.TokenCredential.GetToken(ctx, o)
	var ue *unreachableError
	if err != nil && errors.As(err, &ue) {
		// Not a sign-in problem: the sign-in host cannot be reached.
		return tok, ue.withHint()
	}
	if err != nil {
		// A credential chain may keep only the text of its members' errors.
		if i := strings.Index(err.Error(), "cannot reach "); i >= 0 {
			line, _, _ := strings.Cut(err.Error()[i:], "\n")
			return tok, core.WithHint(fmt.Errorf("sign in to Azure: %s: %w", strings.TrimSpace(line), core.ErrUnavailable),
				"check the network, proxy and CA settings, and the endpoint (authority_host or the cloud setting)")
		}
	}
	if err != nil && ctx.Err() == nil {
		help := c.help
		if help == "" {
			help = credentialHelp
		}
		return tok, core.WithHint(fmt.Errorf("sign in to Azure: %w: %w", core.ErrUnauthorized, err), "%s", help)
	}
	return tok, err
}

// Retry budget of every ARM request (throttling 429, 5xx, transport errors).
const (
	armMaxRetries    = 3
	armMaxRetryDelay = 30 * time.Second
)

// armOptions returns the ARM client options with an optional test transport.
func armOptions(cfg cloud.Configuration, tr policy.Transporter) *arm.ClientOptions {
	o := &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Cloud: cfg, Transport: tr}}
	o.DisableRPRegistration = true
	// Bounded retries: at most 1+armMaxRetries tries per request, and a
	// Retry-After longer than armMaxRetryDelay is not slept but returned as
	// the throttling error, so a 429 storm can neither loop nor stall.
	o.Retry = policy.RetryOptions{MaxRetries: armMaxRetries, RetryDelay: time.Second, MaxRetryDelay: armMaxRetryDelay}
	o.PerRetryPolicies = append(o.PerRetryPolicies, failFastPolicy{}, debugPolicy{})
	return o
}

// debugPolicy logs each try of each request for -v (core.Debugf): method,
// path, status and time. Query strings, headers and bodies are left out,
// so tokens and secrets never reach the log.
type debugPolicy struct{}

// Do sends the request on and logs how it went.
func (debugPolicy) Do(req *policy.Request) (*http.Response, error) {
	if !core.DebugEnabled() {
		return req.Next()
	}
	start := time.Now()
	resp, err := req.Next()
	r := req.Raw()
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		core.Debugf("azure %s %s%s → %v (%s)", r.Method, r.URL.Host, r.URL.Path, err, took)
		return resp, err
	}
	core.Debugf("azure %s %s%s → %d (%s)", r.Method, r.URL.Host, r.URL.Path, resp.StatusCode, took)
	return resp, err
}

// failFastPolicy ends the retries of a request that cannot succeed by
// trying again: a refused connection, an unknown host or a certificate this
// machine does not trust. The error says which, instead of seconds of
// retries ending as a sign-in problem.
type failFastPolicy struct{}

// Do sends the request on and marks a hopeless transport error.
func (failFastPolicy) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	if err == nil {
		return resp, nil
	}
	if why, tls := unreachableCause(err); why != "" {
		u := req.Raw().URL
		return resp, &unreachableError{endpoint: u.Scheme + "://" + u.Host, why: why, tls: tls, err: err}
	}
	return resp, err
}

// unreachableCause says why err is a connection that cannot be made now:
// why is "" for other errors (a timeout, a reset: worth a retry); tls says
// the cause is the server's certificate.
func unreachableCause(err error) (why string, tls bool) {
	var (
		dns      *net.DNSError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tlspkg.CertificateVerificationError
	)
	switch {
	case errors.As(err, &unknown), errors.As(err, &verify):
		return "its certificate is not trusted by this machine (" + lastErrText(err) + ")", true
	case errors.As(err, &hostname), errors.As(err, &invalid):
		return "its certificate does not fit (" + lastErrText(err) + ")", true
	case errors.As(err, &dns) && dns.IsNotFound:
		return "no such host", false
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", false
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "network unreachable", false
	}
	return "", false
}

// lastErrText is the innermost part of err's text.
func lastErrText(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": x509: "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// unreachableError is an Azure endpoint this machine cannot talk to. It is
// not retried (azcore honours NonRetriable) and is shown as what it is.
type unreachableError struct {
	endpoint, why string
	tls           bool
	err           error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("cannot reach %s: %s", e.endpoint, e.why)
}

// Unwrap gives the category (unavailable) and the transport's error.
func (e *unreachableError) Unwrap() []error { return []error{core.ErrUnavailable, e.err} }

// NonRetriable tells azcore's retry policy not to try again.
func (e *unreachableError) NonRetriable() {}

// withHint is e with its next step: the network, or the CA store.
func (e *unreachableError) withHint() error {
	if e.tls {
		return core.WithHint(e, "add the CA that signed %s's certificate to this machine's trust store (or SSL_CERT_FILE), or check resource_manager_endpoint and authority_host", e.endpoint)
	}
	return core.WithHint(e, "check the network and proxy settings, and the endpoint (resource_manager_endpoint, authority_host or the cloud setting)")
}

// azureProfile is the part of the az CLI's azureProfile.json mngr reads.
type azureProfile struct {
	Subscriptions []struct {
		ID        string `json:"id"`
		IsDefault bool   `json:"isDefault"`
		TenantID  string `json:"tenantId"`
	} `json:"subscriptions"`
}

// ResolveSubscription returns the subscription: the config's, else
// AZURE_SUBSCRIPTION_ID, else the az CLI's default subscription.
func ResolveSubscription(configured string, getenv func(string) string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	if v := strings.TrimSpace(getenv("AZURE_SUBSCRIPTION_ID")); v != "" {
		return v, nil
	}
	dir := getenv("AZURE_CONFIG_DIR")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return "", core.WithHint(fmt.Errorf("find azure subscription: no home directory: %w", core.ErrUnavailable), "%s", credentialHelp)
			}
			home = h
		}
		dir = filepath.Join(home, ".azure")
	}
	path := filepath.Join(dir, "azureProfile.json")
	var prof azureProfile
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		prof, err = readProfile(path)
		var syn *json.SyntaxError
		if !errors.As(err, &syn) {
			break // only a torn read (the CLI rewriting the file) is retried
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		return "", core.WithHint(fmt.Errorf("find azure subscription: no subscription_id, AZURE_SUBSCRIPTION_ID or az login profile at %s: %w", path, core.ErrUnavailable), "%s", credentialHelp)
	}
	if err != nil {
		return "", core.WithHint(fmt.Errorf("read az profile %q: %w: %w", path, err, core.ErrUnavailable), "%s", credentialHelp)
	}
	for _, s := range prof.Subscriptions {
		if s.IsDefault && s.ID != "" {
			return s.ID, nil
		}
	}
	return "", core.WithHint(fmt.Errorf("find azure subscription: %s has no default subscription: %w", path, core.ErrUnavailable), "%s", credentialHelp)
}

// readFile reads the profile; tests replace it to simulate a torn read.
var readFile = os.ReadFile

func readProfile(path string) (azureProfile, error) {
	b, err := readFile(path)
	if err != nil {
		return azureProfile{}, err
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	var p azureProfile
	if err := json.Unmarshal(b, &p); err != nil {
		return azureProfile{}, err
	}
	return p, nil
}
