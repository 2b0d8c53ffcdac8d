// Package azsim runs a local Azure: ARM and Entra ID token endpoints over
// HTTPS on loopback, with state kept in a data directory.
package azsim

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/mngr-azure/mngr/internal/azsim/arm"
	"github.com/mngr-azure/mngr/internal/azsim/auth"
	"github.com/mngr-azure/mngr/internal/azsim/vm"
)

// Audience is the ARM token audience azsim accepts.
const Audience = "https://management.azsim.local/"

// Endpoint is DIR/endpoint.json: how clients reach a running azsim.
type Endpoint struct {
	ARM            string `json:"arm"`
	Authority      string `json:"authority"`
	AuthorityADFS  string `json:"authority_adfs"`
	AuthorityHost  string `json:"authority_host"`
	Audience       string `json:"audience"`
	CAFile         string `json:"ca_file"`
	TenantID       string `json:"tenant_id"`
	ClientID       string `json:"client_id"`
	ClientSecret   string `json:"client_secret"`
	SubscriptionID string `json:"subscription_id"`
	Admin          string `json:"admin"`
	Socket         string `json:"socket"`
	PID            int    `json:"pid"`
}

// identity is the tenant, subscription and service principal of a data dir.
type identity struct {
	TenantID       string `json:"tenant_id"`
	SubscriptionID string `json:"subscription_id"`
	ClientID       string `json:"client_id"`
	ClientSecret   string `json:"client_secret"`
	ObjectID       string `json:"object_id"`
	// Subscriptions are the tenant's further subscriptions (the admin API adds them).
	Subscriptions []string `json:"subscriptions,omitempty"`
	// Principals are the tenant's further service principals, with no
	// rights until a role assignment grants some (the admin API adds them).
	Principals []auth.ServicePrincipal `json:"principals,omitempty"`
}

// saveIdentity writes DIR/identity.json.
func saveIdentity(dir string, id identity) error {
	b, _ := json.Marshal(id) //nolint:gosec // the secrets are stored 0600 in the data dir on purpose
	return arm.WriteFileAtomic(filepath.Join(dir, "identity.json"), b, 0o600)
}

// BackendInfo is what a VM backend factory gets once azsim knows its address.
type BackendInfo struct {
	DataDir, ARMURL, ARMSocket, CAFile string
	// IssueMIToken issues managed-identity tokens.
	IssueMIToken func(principalID, resource string) (string, time.Time, error)
}

// Options configure Run.
type Options struct {
	Listen string
	// AllowNonLoopback lets Listen name an address other than loopback
	// (0.0.0.0, a LAN address): azsim then serves its admin API and tokens
	// to the network.
	AllowNonLoopback bool
	DataDir          string
	// NewBackend builds the VM backend; nil is the "none" backend.
	NewBackend func(ctx context.Context, info BackendInfo) (vm.Backend, error)
	// Latency scales Azure's usual durations; 0 is instant.
	Latency float64
	// Reset wipes state (and the backend's machines) before starting.
	Reset bool
	// Ready, when set, receives the endpoint once it is written.
	Ready func(Endpoint)
}

func loadIdentity(dir string) (identity, error) {
	p := filepath.Join(dir, "identity.json")
	var id identity
	b, err := os.ReadFile(p) //nolint:gosec // azsim's own identity file in its data dir
	if err == nil {
		if err := json.Unmarshal(b, &id); err != nil {
			return id, fmt.Errorf("decode %q: %w", p, err)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return id, fmt.Errorf("read %q: %w", p, err)
	}
	sec, err := newSecret()
	if err != nil {
		return id, err
	}
	id = identity{TenantID: uuid.NewString(), SubscriptionID: uuid.NewString(), ClientID: uuid.NewString(),
		ClientSecret: sec, ObjectID: uuid.NewString()}
	return id, saveIdentity(dir, id)
}

// newSecret returns a fresh client secret.
func newSecret() (string, error) {
	sec := make([]byte, 24)
	if _, err := rand.Read(sec); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return "azsim~" + hex.EncodeToString(sec), nil
}

// ReadEndpoint reads DIR/endpoint.json.
func ReadEndpoint(dir string) (Endpoint, error) {
	var ep Endpoint
	b, err := os.ReadFile(filepath.Join(dir, "endpoint.json")) //nolint:gosec // the data dir the user named
	if err != nil {
		return ep, fmt.Errorf("read endpoint of %q: %w", dir, err)
	}
	if err := json.Unmarshal(b, &ep); err != nil {
		return ep, fmt.Errorf("decode endpoint of %q: %w", dir, err)
	}
	return ep, nil
}

// ErrNonLoopback is returned when --listen names a non-loopback address
// without AllowNonLoopback.
var ErrNonLoopback = errors.New("non-loopback listen address")

// checkLoopback refuses a listen address that is not a loopback IP (or
// "localhost") unless allow is set; "" means the loopback default.
func checkLoopback(listen string, allow bool) error {
	if listen == "" || allow {
		return nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", listen, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("listen address %q is not loopback: azsim would hand out tokens and its admin API to the network; "+
		"use 127.0.0.1:PORT, or pass --allow-non-loopback: %w", listen, ErrNonLoopback)
}

// Run serves azsim until ctx ends or the admin API asks it to shut down.
func Run(ctx context.Context, opts Options) error {
	if err := checkLoopback(opts.Listen, opts.AllowNonLoopback); err != nil {
		return err
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return fmt.Errorf("data dir %q: %w", opts.DataDir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir %q: %w", dir, err)
	}
	// First the lock: a second azsim on this dir is refused before it
	// touches the running one's files (endpoint.json, state, socket).
	unlock, err := lockDataDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	if opts.Reset {
		for _, f := range []string{"state.json", "requests.jsonl", "endpoint.json"} {
			_ = os.Remove(filepath.Join(dir, f))
		}
	}
	// A data dir made beforehand keeps no looser mode: it holds the client
	// secret, the CA key and every socket.
	if err := os.Chmod(dir, 0o700); err != nil { //nolint:gosec // G302: a directory needs its x bit; 0700 is private
		return fmt.Errorf("restrict data dir %q: %w", dir, err)
	}
	_ = os.Remove(filepath.Join(dir, "endpoint.json"))
	id, err := loadIdentity(dir)
	if err != nil {
		return err
	}
	cert, err := ensureCerts(dir)
	if err != nil {
		return err
	}
	key, err := auth.LoadOrCreateKey(filepath.Join(dir, "signing-key.pem"))
	if err != nil {
		return err
	}
	listen := opts.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	lc := net.ListenConfig{}
	tcp, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %q: %w", listen, err)
	}
	sockPath := filepath.Join(dir, "arm.sock")
	_ = os.Remove(sockPath)
	unix, err := lc.Listen(ctx, "unix", sockPath)
	if err != nil {
		_ = tcp.Close()
		return fmt.Errorf("listen on %q: %w", sockPath, err)
	}
	_ = os.Chmod(sockPath, 0o600)
	base := "https://" + tcp.Addr().String()

	var srv *arm.Server
	now := func() time.Time {
		if srv == nil {
			return time.Now()
		}
		return srv.Now()
	}
	authority := auth.New(auth.Config{BaseURL: base, TenantID: id.TenantID, ClientID: id.ClientID, ClientSecret: id.ClientSecret,
		ObjectID: id.ObjectID, Audience: Audience, Now: now}, key)
	for _, sp := range id.Principals {
		authority.AddServicePrincipal(sp)
	}
	caFile := filepath.Join(dir, "ca.pem")
	var backend vm.Backend = vm.None{}
	if opts.NewBackend != nil {
		info := BackendInfo{DataDir: dir, ARMURL: base, ARMSocket: sockPath, CAFile: caFile, IssueMIToken: authority.IssueMIToken}
		backend, err = opts.NewBackend(ctx, info)
		if err == nil && opts.Reset {
			// A reset also removes the machines of the previous run.
			if err = backend.Close(ctx, true); err == nil {
				backend, err = opts.NewBackend(ctx, info)
			}
		}
		if err != nil {
			_ = tcp.Close()
			_ = unix.Close()
			return fmt.Errorf("start vm backend: %w", err)
		}
	}
	srv, err = arm.New(arm.Options{DataDir: dir, SubscriptionID: id.SubscriptionID, TenantID: id.TenantID, OwnerObjectID: id.ObjectID,
		ExtraSubscriptions: id.Subscriptions, BaseURL: base, Auth: authority, Backend: backend, Latency: opts.Latency})
	if err != nil {
		_ = tcp.Close()
		_ = unix.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var removeMachines atomic.Bool
	admin := &adminAPI{arm: srv, authority: authority, dir: dir, id: id, secret: id.ClientSecret, issueMI: authority.IssueMIToken, shutdown: func(remove bool) {
		removeMachines.Store(remove)
		cancel()
	}}
	authH := authority.Handler()
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A client that joins "/" + an empty (tenant-root) scope + "/providers/…"
		// may send //providers/….
		first := strings.ToLower(strings.SplitN(strings.TrimLeft(r.URL.Path, "/"), "/", 2)[0])
		switch first {
		case "_azsim":
			admin.ServeHTTP(w, r)
		case "subscriptions", "tenants", "providers":
			srv.ServeHTTP(w, r)
		default:
			authH.ServeHTTP(w, r)
		}
	})
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	hs := &http.Server{Handler: root, TLSConfig: tlsCfg, ReadHeaderTimeout: 30 * time.Second, ErrorLog: nil}
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for _, l := range []net.Listener{tcp, unix} {
		wg.Add(1)
		go func(l net.Listener) {
			defer wg.Done()
			if err := hs.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}(l)
	}
	ep := Endpoint{ARM: base, Authority: authority.Authority(), AuthorityADFS: authority.AuthorityADFS(), AuthorityHost: base + "/",
		Audience: Audience, CAFile: caFile, TenantID: id.TenantID, ClientID: id.ClientID, ClientSecret: id.ClientSecret,
		SubscriptionID: id.SubscriptionID, Admin: base + "/_azsim", Socket: sockPath, PID: os.Getpid()}
	b, _ := json.MarshalIndent(ep, "", "  ") //nolint:gosec // endpoint.json (0600) hands the secret to clients on purpose
	if err := arm.WriteFileAtomic(filepath.Join(dir, "endpoint.json"), append(b, '\n'), 0o600); err != nil {
		cancel()
	}
	if opts.Ready != nil {
		opts.Ready(ep)
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	_ = os.Remove(filepath.Join(dir, "endpoint.json"))
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	_ = hs.Shutdown(sctx)
	wg.Wait()
	if err := backend.Close(sctx, removeMachines.Load()); err != nil && runErr == nil {
		runErr = fmt.Errorf("close vm backend: %w", err)
	}
	if err := srv.Close(); err != nil && runErr == nil {
		runErr = err
	}
	_ = os.Remove(sockPath)
	return runErr
}

// adminAPI serves /_azsim/…; every call needs "Authorization: Bearer <client secret>".
type adminAPI struct {
	arm       *arm.Server
	authority *auth.Authority
	dir       string
	// idMu guards id, the identity.json the tenant calls below extend.
	idMu     sync.Mutex
	id       identity
	secret   string
	shutdown func(removeMachines bool)
	issueMI  func(principalID, resource string) (string, time.Time, error)
}

func (a *adminAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+a.secret)) != 1 {
		writeAdmin(w, http.StatusUnauthorized, map[string]string{"error": "admin API needs Authorization: Bearer <client_secret>"})
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	route := r.Method + " " + strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/_azsim"), "/")
	switch route {
	case "GET /state":
		writeAdmin(w, http.StatusOK, a.arm.State())
	case "POST /clock":
		var in struct {
			AdvanceSeconds float64 `json:"advance_seconds"`
		}
		if err := json.Unmarshal(body, &in); err != nil || in.AdvanceSeconds < 0 {
			writeAdmin(w, http.StatusBadRequest, map[string]string{"error": "want {\"advance_seconds\": N>=0}"})
			return
		}
		a.arm.AdvanceClock(time.Duration(in.AdvanceSeconds * float64(time.Second)))
		writeAdmin(w, http.StatusOK, map[string]string{"now": a.arm.Now().Format(time.RFC3339)})
	case "POST /faults":
		var f arm.Fault
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			writeAdmin(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if err := a.arm.AddFault(f); err != nil {
			writeAdmin(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeAdmin(w, http.StatusCreated, f)
	case "POST /quotas":
		var in struct {
			Name  string `json:"name"`
			Limit int    `json:"limit"`
		}
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			writeAdmin(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if err := a.arm.SetQuotaLimit(in.Name, in.Limit); err != nil {
			writeAdmin(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeAdmin(w, http.StatusOK, in)
	case "DELETE /faults":
		a.arm.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	case "POST /vms/evict":
		var in struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			writeAdmin(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if err := a.arm.Evict(in.ID); err != nil {
			writeAdmin(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		writeAdmin(w, http.StatusOK, map[string]string{"evicted": in.ID})
	case "POST /identity/token":
		var in struct {
			PrincipalID string `json:"principal_id"`
			Resource    string `json:"resource"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			writeAdmin(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		tok, exp, err := a.issueMI(in.PrincipalID, in.Resource)
		if err != nil {
			writeAdmin(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeAdmin(w, http.StatusOK, map[string]any{"access_token": tok, "expires_on": exp.Unix()})
	case "POST /subscriptions":
		// A further subscription of the same tenant: the owner service
		// principal owns it too, and custom role names are shared with it.
		a.idMu.Lock()
		sub := uuid.NewString()
		a.id.Subscriptions = append(a.id.Subscriptions, sub)
		err := saveIdentity(a.dir, a.id)
		a.idMu.Unlock()
		if err != nil {
			writeAdmin(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		a.arm.AddSubscription(sub)
		writeAdmin(w, http.StatusCreated, map[string]string{"subscription_id": sub, "tenant_id": a.id.TenantID})
	case "POST /principals":
		// A further service principal of the tenant. It has no rights
		// until a role assignment (made through ARM) grants some, e.g.
		// Contributor on one resource group.
		secret, err := newSecret()
		if err != nil {
			writeAdmin(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		sp := auth.ServicePrincipal{ClientID: uuid.NewString(), ClientSecret: secret, ObjectID: uuid.NewString()}
		a.idMu.Lock()
		a.id.Principals = append(a.id.Principals, sp)
		err = saveIdentity(a.dir, a.id)
		a.idMu.Unlock()
		if err != nil {
			writeAdmin(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		a.authority.AddServicePrincipal(sp)
		writeAdmin(w, http.StatusCreated, map[string]string{"client_id": sp.ClientID, "client_secret": sp.ClientSecret, "object_id": sp.ObjectID, "tenant_id": a.id.TenantID})
	case "POST /shutdown":
		var in struct {
			RemoveMachines bool `json:"remove_machines"`
		}
		_ = json.Unmarshal(body, &in)
		writeAdmin(w, http.StatusAccepted, map[string]string{"status": "shutting down"})
		go a.shutdown(in.RemoveMachines)
	default:
		writeAdmin(w, http.StatusNotFound, map[string]string{"error": "unknown admin call " + route})
	}
}

func writeAdmin(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) //nolint:errchkjson // best effort
}
