// Package auth is azsim's Entra ID: OpenID discovery, a client-credentials
// token endpoint (plain and ADFS-flavoured), JWKS, and token validation for
// ARM requests.
package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Principal kinds a token can carry.
const (
	KindServicePrincipal = "ServicePrincipal"
	KindManagedIdentity  = "ManagedIdentity"
)

// Principal is the caller a validated token names.
type Principal struct {
	// ObjectID is the principal's object id (oid claim).
	ObjectID string
	// AppID is the client id (appid claim), "" for managed identities.
	AppID string
	// Kind is KindServicePrincipal or KindManagedIdentity.
	Kind string
}

// Config is the identity of the one tenant azsim serves.
type Config struct {
	// Issuer base URL, e.g. https://127.0.0.1:PORT (tokens name {Issuer}/{TenantID}/v2.0).
	BaseURL      string
	TenantID     string
	ClientID     string
	ClientSecret string
	// ObjectID is the service principal's object id.
	ObjectID string
	// Audience is ARM's audience, e.g. https://management.azsim.local/.
	Audience string
	// Now is the clock; tokens expire by it.
	Now func() time.Time
}

// ServicePrincipal is an app registration of the tenant other than the
// subscription owner of Config: it signs in with its own client id and
// secret, and ARM grants it only what role assignments give its object id.
type ServicePrincipal struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	ObjectID     string `json:"object_id"`
}

// Authority issues and checks tokens.
type Authority struct {
	cfg Config
	key *rsa.PrivateKey
	kid string

	mu    sync.RWMutex
	extra map[string]ServicePrincipal // by client id
}

// AddServicePrincipal lets sp sign in with the client-credentials grant.
func (a *Authority) AddServicePrincipal(sp ServicePrincipal) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.extra[sp.ClientID] = sp
}

// servicePrincipal finds the app that signs in with clientID.
func (a *Authority) servicePrincipal(clientID string) (ServicePrincipal, bool) {
	if clientID == a.cfg.ClientID {
		return ServicePrincipal{ClientID: a.cfg.ClientID, ClientSecret: a.cfg.ClientSecret, ObjectID: a.cfg.ObjectID}, true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	sp, ok := a.extra[clientID]
	return sp, ok
}

// LoadOrCreateKey reads the signing key at path, creating it on first use.
func LoadOrCreateKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path) //nolint:gosec // azsim's own key file in its data dir
	if err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("read signing key %q: no PEM block", path)
		}
		k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse signing key %q: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read signing key %q: %w", path, err)
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		return nil, fmt.Errorf("write signing key %q: %w", path, err)
	}
	return k, nil
}

// New returns an Authority signing with key.
func New(cfg Config, key *rsa.PrivateKey) *Authority {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	n := key.N.Bytes()
	kid := base64.RawURLEncoding.EncodeToString(n[:12])
	return &Authority{cfg: cfg, key: key, kid: kid, extra: map[string]ServicePrincipal{}}
}

// Authority returns the tenant authority URL (AAD flavour).
func (a *Authority) Authority() string { return a.cfg.BaseURL + "/" + a.cfg.TenantID }

// AuthorityADFS returns the ADFS-flavoured authority URL.
func (a *Authority) AuthorityADFS() string { return a.cfg.BaseURL + "/adfs" }

func (a *Authority) issuer() string { return a.cfg.BaseURL + "/" + a.cfg.TenantID + "/v2.0" }

// Issue signs a token for the principal with the given audience.
func (a *Authority) Issue(p Principal, audience string, ttl time.Duration) (string, time.Time, error) {
	now := a.cfg.Now()
	exp := now.Add(ttl)
	claims := jwt.MapClaims{
		"aud":   audience,
		"iss":   a.issuer(),
		"iat":   now.Unix(),
		"nbf":   now.Add(-5 * time.Minute).Unix(),
		"exp":   exp.Unix(),
		"oid":   p.ObjectID,
		"sub":   p.ObjectID,
		"tid":   a.cfg.TenantID,
		"idtyp": "app",
		"kind":  p.Kind,
	}
	if p.AppID != "" {
		claims["appid"] = p.AppID
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = a.kid
	s, err := tok.SignedString(a.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return s, exp, nil
}

// IssueMIToken issues a managed-identity token for principalID; resource is
// the audience asked for (ARM's audience or anything else).
func (a *Authority) IssueMIToken(principalID, resource string) (string, time.Time, error) {
	if principalID == "" {
		return "", time.Time{}, errors.New("issue managed identity token: no principal id")
	}
	if resource == "" {
		resource = a.cfg.Audience
	}
	return a.Issue(Principal{ObjectID: principalID, Kind: KindManagedIdentity}, resource, 24*time.Hour)
}

// Failure is why a token was refused; Code is ARM's error code.
type Failure struct {
	Code    string
	Message string
}

func (f *Failure) Error() string { return f.Code + ": " + f.Message }

// Validate checks an Authorization header value for ARM.
func (a *Authority) Validate(header string) (Principal, *Failure) {
	if header == "" {
		return Principal{}, &Failure{"AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."}
	}
	raw, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return Principal{}, &Failure{"AuthenticationFailed", "Authentication failed. The 'Authorization' header is provided in an invalid format."}
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return &a.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(a.cfg.Now), jwt.WithIssuer(a.issuer()))
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Principal{}, &Failure{"ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time."}
		}
		return Principal{}, &Failure{"InvalidAuthenticationToken", "The access token is invalid."}
	}
	aud, _ := claims["aud"].(string)
	if strings.TrimRight(aud, "/") != strings.TrimRight(a.cfg.Audience, "/") {
		return Principal{}, &Failure{"InvalidAuthenticationTokenAudience", fmt.Sprintf("The access token has been obtained for wrong audience or resource '%s'. It should exactly match with one of the allowed audiences '%s'.", aud, a.cfg.Audience)}
	}
	p := Principal{}
	p.ObjectID, _ = claims["oid"].(string)
	p.AppID, _ = claims["appid"].(string)
	p.Kind, _ = claims["kind"].(string)
	return p, nil
}

// Handler serves the identity endpoints under /{tenant}/… and /adfs/….
func (a *Authority) Handler() http.Handler {
	mux := http.NewServeMux()
	t := "/" + a.cfg.TenantID
	for _, prefix := range []string{t, "/organizations", "/common"} {
		mux.HandleFunc(prefix+"/v2.0/.well-known/openid-configuration", a.discovery(prefix, true))
		mux.HandleFunc(prefix+"/.well-known/openid-configuration", a.discovery(prefix, false))
		mux.HandleFunc(prefix+"/oauth2/v2.0/token", a.token)
		mux.HandleFunc(prefix+"/oauth2/token", a.token)
		mux.HandleFunc(prefix+"/discovery/v2.0/keys", a.jwks)
		mux.HandleFunc(prefix+"/discovery/keys", a.jwks)
	}
	mux.HandleFunc("/adfs/.well-known/openid-configuration", a.discovery("/adfs", false))
	mux.HandleFunc("/adfs/oauth2/token", a.token)
	mux.HandleFunc("/adfs/discovery/keys", a.jwks)
	return mux
}

func (a *Authority) discovery(prefix string, v2 bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		base := a.cfg.BaseURL + prefix
		tokenEP, authzEP, keys := base+"/oauth2/token", base+"/oauth2/authorize", base+"/discovery/keys"
		if v2 {
			tokenEP, authzEP, keys = base+"/oauth2/v2.0/token", base+"/oauth2/v2.0/authorize", base+"/discovery/v2.0/keys"
		}
		issuer := a.issuer()
		if prefix == "/adfs" {
			issuer = base
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"token_endpoint":                        tokenEP,
			"authorization_endpoint":                authzEP,
			"device_authorization_endpoint":         base + "/oauth2/devicecode",
			"jwks_uri":                              keys,
			"issuer":                                issuer,
			"tenant_region_scope":                   "NA",
			"response_types_supported":              []string{"code", "id_token", "code id_token", "token id_token", "token"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic", "private_key_jwt"},
			"grant_types_supported":                 []string{"client_credentials", "authorization_code", "refresh_token"},
			"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		})
	}
}

func (a *Authority) jwks(w http.ResponseWriter, _ *http.Request) {
	pub := a.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": a.kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc, "error_codes": []int{7000215}})
}

// token implements the client_credentials grant with a client secret.
func (a *Authority) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		tokenError(w, http.StatusMethodNotAllowed, "invalid_request", "AADSTS900561: The endpoint only accepts POST requests.")
		return
	}
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body is not a valid form.")
		return
	}
	clientID, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	if g := r.PostForm.Get("grant_type"); g != "client_credentials" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type '"+g+"'.")
		return
	}
	sp, known := a.servicePrincipal(clientID)
	if !known {
		tokenError(w, http.StatusBadRequest, "unauthorized_client", "AADSTS700016: Application with identifier '"+clientID+"' was not found in the directory.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(sp.ClientSecret)) != 1 {
		tokenError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
		return
	}
	aud := ""
	if s := r.PostForm.Get("scope"); s != "" {
		for _, sc := range strings.Fields(s) {
			if strings.HasSuffix(sc, "/.default") {
				aud = strings.TrimSuffix(sc, ".default")
			}
		}
	}
	if res := r.PostForm.Get("resource"); aud == "" && res != "" {
		aud = res
	}
	if aud == "" {
		tokenError(w, http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid.")
		return
	}
	// Keep the audience as the client spelled it (with or without the trailing slash).
	tok, exp, err := a.Issue(Principal{ObjectID: sp.ObjectID, AppID: sp.ClientID, Kind: KindServicePrincipal}, aud, time.Hour)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	ttl := int64(time.Until(exp).Seconds())
	if ttl < 0 {
		ttl = 0
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl,
		"expires_on": exp.Unix(), "resource": aud, "access_token": tok,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) //nolint:errchkjson // best effort to a client
}
