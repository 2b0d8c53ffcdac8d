// Package cli is the azsim command line: serve, env and stop.
package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/azsim"
	"github.com/mngr-azure/mngr/internal/azsim/npmcache"
	"github.com/mngr-azure/mngr/internal/azsim/vm"
	"github.com/mngr-azure/mngr/internal/azsim/vm/docker"
	"github.com/mngr-azure/mngr/internal/core"
)

// Exit codes: as mngr's, 2 for usage and bad input, 1 for other failures.
const (
	exitFailure = 1
	exitUsage   = 2
)

// Main runs azsim with args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	root := NewRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	_, _ = fmt.Fprintln(stderr, "Error:", err)
	var u *usageError
	if errors.As(err, &u) {
		_, _ = fmt.Fprintln(stderr, "  run 'azsim --help' (or 'azsim COMMAND --help') to see the commands and their flags")
		return exitUsage
	}
	return exitFailure
}

// usageError marks an unknown command, a bad flag or a bad flag value.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// NewRootCmd builds the azsim command tree.
func NewRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{Use: "azsim", Short: "A local Azure (ARM + Entra ID) for mngr and the az CLI", SilenceUsage: true, SilenceErrors: true,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })
	root.AddCommand(newServeCmd(), newEnvCmd(stdout), newStopCmd(stdout))
	for _, c := range root.Commands() {
		if inner := c.Args; inner != nil {
			c.Args = func(cmd *cobra.Command, args []string) error {
				if err := inner(cmd, args); err != nil {
					return &usageError{err: err}
				}
				return nil
			}
		}
	}
	return root
}

// latencyFactor turns --latency/--latency-scale into a duration scale.
func latencyFactor(mode string, scale float64) (float64, error) {
	switch mode {
	case "instant":
		return 0, nil
	case "realistic":
		if scale <= 0 {
			return 0, usageErrorf("--latency-scale must be > 0")
		}
		return scale, nil
	}
	return 0, usageErrorf("--latency %q: want instant or realistic", mode)
}

func newServeCmd() *cobra.Command {
	var listen, dataDir, backend, latency, aptProxy, npmCache, npmUpstream, npmSeed string
	var npmOffline bool
	var scale float64
	var reset, allowNonLoopback bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve ARM and Entra ID over HTTPS; writes DIR/endpoint.json when ready",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lat, err := latencyFactor(latency, scale)
			if err != nil {
				return err
			}
			if dataDir == "" {
				return usageErrorf("--data-dir is required")
			}
			opts := azsim.Options{Listen: listen, AllowNonLoopback: allowNonLoopback, DataDir: dataDir, Latency: lat, Reset: reset}
			if npmCache != "" && backend != "docker" {
				return usageErrorf("--npm-cache needs --vm-backend docker (only its VMs reach it)")
			}
			if npmCache == "" && (npmOffline || npmSeed != "") {
				return usageErrorf("--npm-offline and --npm-seed-from need --npm-cache")
			}
			npm, err := npmRegistry(npmCache, npmUpstream, npmSeed, npmOffline)
			if err != nil {
				return err
			}
			switch backend {
			case "none":
			case "docker":
				opts.NewBackend = func(ctx context.Context, info azsim.BackendInfo) (vm.Backend, error) {
					imgs, err := docker.ImagesFromEnv(os.Getenv)
					if err != nil {
						return nil, fmt.Errorf("docker backend images: %w", err)
					}
					b, err := docker.New(ctx, docker.Options{DataDir: info.DataDir, ARMURL: info.ARMURL, ARMSocket: info.ARMSocket,
						CAFile: info.CAFile, IssueMIToken: info.IssueMIToken, Images: imgs, APTProxy: aptProxy, NPMRegistry: npm})
					if err != nil {
						return nil, fmt.Errorf("docker backend: %w", err)
					}
					return b, nil
				}
			default:
				return usageErrorf("--vm-backend %q: want none or docker", backend)

			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opts.Ready = func(ep azsim.Endpoint) {
				_, _ = fmt.Fprintf(cmd.ErrOrStderr(), "azsim: serving ARM at %s (data dir %s)\n", ep.ARM, dataDir)
			}
			return azsim.Run(ctx, opts)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address to listen on (loopback unless --allow-non-loopback)")
	cmd.Flags().BoolVar(&allowNonLoopback, "allow-non-loopback", false, "let --listen name a non-loopback address (serves tokens and the admin API to the network)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "directory holding state, certificates and endpoint.json")
	cmd.Flags().StringVar(&backend, "vm-backend", "none", "VM backend: none or docker")
	cmd.Flags().StringVar(&latency, "latency", "instant", "operation latency: instant or realistic")
	cmd.Flags().Float64Var(&scale, "latency-scale", 1, "scale factor for realistic latencies")
	cmd.Flags().BoolVar(&reset, "reset", false, "wipe state (and the backend's machines) before starting")
	cmd.Flags().StringVar(&aptProxy, "apt-proxy", os.Getenv("MNGR_AZSIM_APT_PROXY"),
		"docker backend: the host's Debian package cache (apt-cacher-ng) as 127.0.0.1:PORT, forwarded into every VM as its apt proxy (default $MNGR_AZSIM_APT_PROXY; empty: VMs use the Debian archive directly)")
	cmd.Flags().StringVar(&npmCache, "npm-cache", os.Getenv(docker.EnvNPMCache),
		"docker backend: a directory caching npm's registry, served inside every VM at http://127.0.0.1:4873/ (default $"+docker.EnvNPMCache+"; empty: no registry in the VMs)")
	cmd.Flags().StringVar(&npmUpstream, "npm-upstream", npmUpstreamDefault(os.Getenv),
		"the npm registry --npm-cache fetches from ($"+docker.EnvNPMUpstream+" sets the default)")
	cmd.Flags().BoolVar(&npmOffline, "npm-offline", os.Getenv(docker.EnvNPMOffline) == "1",
		"serve only what --npm-cache holds, never asking --npm-upstream (default: $"+docker.EnvNPMOffline+" is 1)")
	cmd.Flags().StringVar(&npmSeed, "npm-seed-from", os.Getenv(docker.EnvNPMSeed),
		"npm's own cache dir (e.g. ~/.npm/_cacache) to copy --npm-upstream's packuments and tarballs from into --npm-cache at start (default $"+docker.EnvNPMSeed+")")
	return cmd
}

func npmUpstreamDefault(getenv func(string) string) string {
	if u := getenv(docker.EnvNPMUpstream); u != "" {
		return u
	}
	return npmcache.DefaultUpstream
}

// npmRegistry is the VMs' npm registry: a cache in dir of upstream,
// first given what npm's cache seed holds of it; nil when dir is "".
func npmRegistry(dir, upstream, seed string, offline bool) (http.Handler, error) {
	if dir == "" {
		return nil, nil
	}
	u, err := npmcache.ParseUpstream(upstream)
	if err != nil {
		return nil, usageErrorf("--npm-upstream: %v", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, usageErrorf("--npm-cache %q: %v", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("create npm cache dir: %w", err)
	}
	// No overall timeout (a tarball may be hundreds of MB); the cache
	// bounds each fetch, the transport each wait for headers.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = time.Minute
	c := npmcache.New(abs, u, &http.Client{Transport: tr})
	c.Offline = offline
	if seed != "" {
		if _, err := c.ImportNPMCache(seed); err != nil {
			return nil, core.WithHint(fmt.Errorf("seed the npm cache: %w", err),
				"run `npm cache verify` (or drop --npm-seed-from)")
		}
	}
	return c, nil
}

// EnvText renders the exports and the settings block for an endpoint.
func EnvText(ep azsim.Endpoint, providerName string) string {
	var b strings.Builder
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	for _, kv := range [][2]string{
		{"AZURE_AUTHORITY_HOST", ep.AuthorityHost},
		{"AZURE_TENANT_ID", ep.TenantID},
		{"AZURE_CLIENT_ID", ep.ClientID},
		{"AZURE_CLIENT_SECRET", ep.ClientSecret},
		{"AZURE_SUBSCRIPTION_ID", ep.SubscriptionID},
		{"AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential"},
		{"SSL_CERT_FILE", ep.CAFile},
		{"REQUESTS_CA_BUNDLE", ep.CAFile},
	} {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], q(kv[1]))
	}
	fmt.Fprintf(&b, "\n# settings.toml\n[providers.%s]\nbackend = \"azure\"\nsubscription_id = %q\nresource_manager_endpoint = %q\nresource_manager_audience = %q\nauthority_host = %q\n",
		providerName, ep.SubscriptionID, ep.ARM, ep.Audience, ep.AuthorityHost)
	return b.String()
}

func newEnvCmd(stdout io.Writer) *cobra.Command {
	var dataDir, name string
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Print shell exports and the [providers.NAME] block pointing at a running azsim",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ep, err := azsim.ReadEndpoint(dataDir)
			if err != nil {
				return fmt.Errorf("%w (is `azsim serve --data-dir %s` running?)", err, dataDir)
			}
			_, err = io.WriteString(stdout, EnvText(ep, name))
			if err != nil {
				return fmt.Errorf("write env: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "azsim data directory")
	cmd.Flags().StringVar(&name, "provider-name", "azure", "name of the provider block")
	return cmd
}

func newStopCmd(stdout io.Writer) *cobra.Command {
	var dataDir string
	var keep bool
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Shut a running azsim down gracefully (the docker backend removes its machines)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ep, err := azsim.ReadEndpoint(dataDir)
			if err != nil {
				return err
			}
			body := `{"remove_machines":true}`
			if keep {
				body = `{"remove_machines":false}`
			}
			resp, err := AdminCall(cmd.Context(), ep, http.MethodPost, "/shutdown", body)
			if err != nil {
				return err
			}
			_, _ = io.WriteString(stdout, resp)
			// Wait until the server removed its endpoint file.
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				if _, err := os.Stat(dataDir + "/endpoint.json"); errors.Is(err, os.ErrNotExist) {
					return nil
				}
				time.Sleep(100 * time.Millisecond)
			}
			return errors.New("azsim did not stop within 30s")
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "azsim data directory")
	cmd.Flags().BoolVar(&keep, "keep-machines", false, "keep the docker backend's machines")
	return cmd
}

// AdminCall makes one admin API call and returns the response body.
func AdminCall(ctx context.Context, ep azsim.Endpoint, method, path, body string) (string, error) {
	pem, err := os.ReadFile(ep.CAFile)
	if err != nil {
		return "", fmt.Errorf("read ca %q: %w", ep.CAFile, err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	req, err := http.NewRequestWithContext(ctx, method, ep.Admin+path, strings.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+ep.ClientSecret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return string(b), fmt.Errorf("admin %s %s: status %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}
