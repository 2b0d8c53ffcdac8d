// Package arm is azsim's Azure Resource Manager: resource groups, network,
// compute, tags, providers and authorization, served over HTTP with Azure's
// request and error shapes. One file per resource type.
package arm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/mngr-azure/mngr/internal/azsim/auth"
	"github.com/mngr-azure/mngr/internal/azsim/vm"
)

// DefaultLocation is the region azsim serves.
const DefaultLocation = "westus"

// Options configure a Server.
type Options struct {
	// DataDir holds state.json and requests.jsonl.
	DataDir        string
	SubscriptionID string
	TenantID       string
	// OwnerObjectID is the service principal that owns the subscription
	// (and every other subscription of the tenant); every other principal
	// gets what role assignments grant it.
	OwnerObjectID string
	// ExtraSubscriptions are further subscriptions of the same tenant
	// (custom role names are unique across all of them).
	ExtraSubscriptions []string
	// BaseURL is the ARM endpoint (https://127.0.0.1:PORT) used in Location headers.
	BaseURL string
	Auth    *auth.Authority
	Backend vm.Backend
	// Latency scales Azure's usual operation durations; 0 is instant.
	Latency float64
}

// Server is the ARM handler. It is safe for concurrent use.
type Server struct {
	opts Options

	mu    sync.Mutex
	subs  []string // every subscription of the tenant, the default first
	st    *snapshot
	ops   map[string]*operation
	fault faultSet
	// boots are VM creates waiting for their machine (putVM → bootVM);
	// bootWG counts the boots running in the background.
	boots  map[string]bootJob
	bootWG sync.WaitGroup
	// captures are image version creates waiting for their capture
	// (putImageVersion → captureVersion): version id → source VM id.
	captures map[string]string

	logMu sync.Mutex
	log   *os.File
}

// New loads (or creates) the state in opts.DataDir.
func New(opts Options) (*Server, error) {
	if opts.Backend == nil {
		opts.Backend = vm.None{}
	}
	st, err := loadSnapshot(filepath.Join(opts.DataDir, "state.json"))
	if err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(filepath.Join(opts.DataDir, "requests.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open request log: %w", err)
	}
	s := &Server{opts: opts, st: st, ops: map[string]*operation{}, boots: map[string]bootJob{}, captures: map[string]string{}, log: lf,
		subs: append([]string{opts.SubscriptionID}, opts.ExtraSubscriptions...)}
	s.failInterruptedBoots()
	if s.st.Providers["microsoft.compute"] == "" {
		for _, ns := range []string{"microsoft.compute", "microsoft.network", "microsoft.resources", "microsoft.authorization"} {
			s.st.Providers[ns] = "Registered"
		}
	}
	return s, nil
}

// AddSubscription adds a subscription to the tenant (idempotent).
func (s *Server) AddSubscription(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subscriptionLocked(id); !ok {
		s.subs = append(s.subs, id)
	}
}

// subscriptionLocked returns the tenant's subscription id spelled as
// stored, if id names one (under s.mu).
func (s *Server) subscriptionLocked(id string) (string, bool) {
	for _, sub := range s.subs {
		if strings.EqualFold(sub, id) {
			return sub, true
		}
	}
	return "", false
}

// Close flushes and closes the request log.
func (s *Server) Close() error {
	s.bootWG.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.saveLocked(); err != nil {
		return err
	}
	return s.log.Close()
}

// Now is the server clock: wall time plus the admin API's offset.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Server) nowLocked() time.Time { return time.Now().UTC().Add(s.st.ClockOffset) }

// AdvanceClock moves the clock forward.
func (s *Server) AdvanceClock(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.ClockOffset += d
	_ = s.saveLocked()
}

func (s *Server) saveLocked() error {
	b, err := json.Marshal(s.st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return writeFileAtomic(filepath.Join(s.opts.DataDir, "state.json"), b, 0o600)
}

// armError is an ARM error response.
type armError struct {
	Status  int
	Code    string
	Message string
	// Target names the request member an InvalidParameter error is about.
	Target string
	Header http.Header
}

func (e *armError) Error() string { return e.Code + ": " + e.Message }

func errf(status int, code, format string, a ...any) *armError {
	return &armError{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

func writeError(w http.ResponseWriter, e *armError) {
	for k, v := range e.Header {
		w.Header()[k] = v
	}
	w.Header().Set("x-ms-error-code", e.Code)
	body := map[string]any{"code": e.Code, "message": e.Message}
	if e.Target != "" {
		body["target"] = e.Target
	}
	writeJSON(w, e.Status, map[string]any{"error": body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v == nil {
		return
	}
	var b []byte
	switch t := v.(type) {
	case json.RawMessage:
		b = t
	default:
		b, _ = json.Marshal(v) //nolint:errchkjson // values are ours
	}
	_, _ = w.Write(b)
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// statusRecorder captures the status for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	if err != nil {
		return n, fmt.Errorf("write response: %w", err)
	}
	return n, nil
}

type logLine struct {
	Time       time.Time `json:"time"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	APIVersion string    `json:"api_version"`
	Status     int       `json:"status"`
	Principal  string    `json:"principal"`
	// Body is the request body, secrets redacted (see logBody).
	Body json.RawMessage `json:"body,omitempty"`
}

// request is one ARM call being served.
type request struct {
	r         *http.Request
	principal auth.Principal
	body      []byte
	segs      []string
	api       string
	// sub is the subscription the path names (the default one when none).
	sub string
	// failAfter, from a fail_after_accept fault, is the error the
	// request's long-running operation ends with after it is accepted.
	failAfter *armError
}

// ServeHTTP authenticates, logs and routes one ARM request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	w = rec
	p, fail := s.opts.Auth.Validate(r.Header.Get("Authorization"))
	var body []byte
	defer func() {
		line := logLine{Time: time.Now().UTC(), Method: r.Method, Path: r.URL.Path, APIVersion: r.URL.Query().Get("api-version"), Status: rec.status, Principal: p.ObjectID, Body: logBody(body)}
		b, _ := json.Marshal(line) //nolint:errchkjson // plain struct
		s.logMu.Lock()
		_, _ = s.log.Write(append(b, '\n'))
		s.logMu.Unlock()
	}()
	// Date comes from the simulated clock (as ARM's comes from its own), so a
	// client that ages resources by the server clock sees POST /clock moves.
	w.Header().Set("Date", s.Now().Format(http.TimeFormat))
	w.Header().Set("x-ms-request-id", newID())
	w.Header().Set("x-ms-correlation-request-id", newID())
	if fail != nil {
		e := errf(http.StatusUnauthorized, fail.Code, "%s", fail.Message)
		e.Header = http.Header{"Www-Authenticate": {fmt.Sprintf(`Bearer authorization_uri="%s", error="invalid_token", error_description="%s"`, s.opts.Auth.Authority(), fail.Message)}}
		writeError(w, e)
		return
	}
	var err error
	body, err = io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		writeError(w, errf(http.StatusBadRequest, "InvalidRequestContent", "The request content could not be read."))
		return
	}
	var failAfter *armError
	if f := s.fault.match(r.Method, r.URL.Path); f != nil {
		if done := f.apply(r.Context(), w); done {
			if r.Method == http.MethodPut && f.Status >= 400 {
				s.failVMCreate(r.URL.Path, body)
			}
			return
		}
		failAfter = f.afterAccept()
	}
	if e := s.checkBody(r, body); e != nil {
		writeError(w, e)
		return
	}
	req := &request{r: r, principal: p, body: body, segs: splitPath(r.URL.Path), api: r.URL.Query().Get("api-version"),
		sub: s.opts.SubscriptionID, failAfter: failAfter}
	if e := s.route(w, req); e != nil {
		writeError(w, e)
	}
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// apiVersions are the accepted api-versions per namespace: what the Go SDK
// sends (first), what az CLI 2.45 sends with its "latest" profile, and with
// the 2020-09-01-hybrid profile (network 2018-11-01, compute 2020-06-01,
// resources 2019-10-01, subscriptions 2016-06-01, authorization 2015-07-01),
// which the az test uses because Debian's az 2.45 cannot load the network
// module under "latest".
var apiVersions = map[string][]string{
	"microsoft.compute":         {"2026-04-01", "2026-03-03", "2021-07-01", "2022-11-01", "2022-08-01", "2022-03-01", "2019-04-01", "2024-07-01", "2024-03-01", "2020-06-01", "2019-07-01"},
	"microsoft.network":         {"2025-05-01", "2022-01-01", "2022-05-01", "2022-07-01", "2023-09-01", "2024-05-01", "2018-10-01", "2018-11-01"},
	"microsoft.resources":       {"2025-04-01", "2022-12-01", "2021-04-01", "2019-11-01", "2022-09-01", "2016-06-01", "2020-01-01", "2021-01-01", "2019-10-01"},
	"microsoft.managedidentity": {"2024-11-30", "2023-01-31"},
	"microsoft.authorization":   {"2022-04-01", "2020-04-01-preview", "2018-01-01-preview", "2015-07-01", "2020-10-01", "2022-05-01-preview"},
}

func checkAPIVersion(ns, v, typ string) *armError {
	if v == "" {
		return errf(http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
	}
	for _, a := range apiVersions[strings.ToLower(ns)] {
		if a == v {
			return nil
		}
	}
	if typ == "" {
		typ = "providers"
	}
	return errf(http.StatusBadRequest, "NoRegisteredProviderFound",
		"No registered resource provider found for location '%s' and API version '%s' for type '%s'. The supported api-versions are '%s'. The supported locations are '%s'.",
		DefaultLocation, v, typ, strings.Join(apiVersions[strings.ToLower(ns)], ", "), DefaultLocation)
}

// decodeStrict decodes body into v (an SDK model) and rejects members the
// model does not know.
func decodeStrict(body []byte, v any) *armError {
	if len(bytes.TrimSpace(body)) == 0 {
		return errf(http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: the body is empty.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errf(http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: %v.", err)
	}
	back, err := json.Marshal(v)
	if err != nil {
		return errf(http.StatusBadRequest, "InvalidRequestContent", "The request content could not be re-encoded: %v.", err)
	}
	var in, out any
	_ = json.Unmarshal(body, &in)
	_ = json.Unmarshal(back, &out)
	if path := unknownMember(in, out, ""); path != "" {
		return errf(http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: Could not find member '%s' on object of type '%T'.", path, v)
	}
	return nil
}

func unknownMember(in, out any, at string) string {
	switch iv := in.(type) {
	case map[string]any:
		om, _ := out.(map[string]any)
		for k, val := range iv {
			if val == nil {
				continue
			}
			ov, ok := om[k]
			if !ok {
				if m, isMap := val.(map[string]any); isMap && len(m) == 0 {
					continue
				}
				if a, isArr := val.([]any); isArr && len(a) == 0 {
					continue
				}
				return strings.TrimPrefix(at+"."+k, ".")
			}
			if p := unknownMember(val, ov, at+"."+k); p != "" {
				return p
			}
		}
	case []any:
		oa, _ := out.([]any)
		for i, val := range iv {
			if i < len(oa) {
				if p := unknownMember(val, oa[i], fmt.Sprintf("%s[%d]", at, i)); p != "" {
					return p
				}
			}
		}
	}
	return ""
}

// mustJSON encodes an SDK model.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	return b
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ctxDetached returns a context for background work after a request ends.
func ctxDetached() context.Context { return context.Background() }
