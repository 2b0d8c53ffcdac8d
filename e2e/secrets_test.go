//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// azsimToken asks azsim's token endpoint for an ARM token as the journey's
// service principal, the way mngr's credential does, and returns it.
func azsimToken(t *testing.T, j *journey) string {
	t.Helper()
	ep := j.endpoint()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {ep.ClientID},
		"client_secret": {ep.ClientSecret}, "scope": {strings.TrimSuffix(ep.Audience, "/") + "/.default"}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.Authority+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: caConfig(t, filepath.Join(j.data, "ca.pem"))}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("azsim token: %d %v %s", resp.StatusCode, err, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || strings.Count(tok.AccessToken, ".") != 2 {
		t.Fatalf("azsim token is not a JWT: %v %q", err, tok.AccessToken)
	}
	return tok.AccessToken
}

// TestNoSecretsLeakOnAzsim drives mngr through its whole Azure lifecycle
// against azsim (no real machines: MNGR_VPS_SKIP_HOST_SETUP=1) in every
// output format with progress on, then checks that no credential appears in
// mngr's stdout or stderr, in azsim's request log, or in any file under the
// test's HOME (mngr's host dir and the az config dir) except the private key
// files themselves: not the client secret,
// no access token (azsim's are RS256 JWTs; every one starts with the same
// header segment, which names azsim's signing key), no private key.
func TestNoSecretsLeakOnAzsim(t *testing.T) {
	if testing.Short() {
		t.Skip("runs azsim and the full lifecycle; skipped with -short")
	}
	j := startMachinelessJourney(t)
	secret := j.envValue("AZURE_CLIENT_SECRET")
	if len(secret) < 16 {
		t.Fatalf("no client secret in the journey env: %q", secret)
	}
	token := azsimToken(t, j)
	header, _, _ := strings.Cut(token, ".")

	var outputs []string
	run := func(wantOK bool, args ...string) {
		t.Helper()
		out, errOut, err := j.mngr(args...)
		outputs = append(outputs, "$ mngr "+strings.Join(args, " ")+"\n"+out+errOut)
		if wantOK && err != nil {
			t.Errorf("mngr %s: %v", strings.Join(args, " "), err)
		}
	}
	run(true, "-v", "azure", "prepare", "--format", "jsonl")
	run(true, "azure", "prepare", "--format", "json")
	// With MNGR_VPS_SKIP_HOST_SETUP the VM is created (keys, cloud-init,
	// role grant, tokens) but the host has no shell, so creating the agent
	// fails and the VM is rolled back; stop, start and destroy then report
	// "not found". Their error paths are output to check all the same.
	run(false, "-v", "create", "leak-check", "--provider", "azure", "--format", "jsonl")
	run(true, "-v", "list")
	run(true, "list", "--format", "json")
	run(true, "list", "--format", "jsonl")
	run(false, "stop", "leak-check", "--format", "jsonl")
	run(false, "start", "leak-check", "--format", "json")
	run(false, "destroy", "-f", "leak-check", "--format", "jsonl")
	run(true, "gc", "--format", "json")
	run(true, "-v", "azure", "cleanup", "--format", "jsonl")
	// A failing call prints an error path too.
	j.admin(http.MethodPost, "/faults", `{"method":"GET","path":"/virtualMachines","count":2,"status":401,"code":"InvalidAuthenticationToken","message":"The access token is invalid."}`)
	run(false, "-v", "list", "--format", "jsonl")

	// -v logged the requests (token requests included) without their secrets.
	if all := strings.Join(outputs, "\n"); !strings.Contains(all, "debug ") || !strings.Contains(all, "azure GET ") || !strings.Contains(all, "oauth2/v2.0/token → 200") {
		t.Errorf("-v logged no ARM or token requests:\n%s", all)
	}

	home := j.envValue("HOME") // holds MNGR_HOST_DIR and AZURE_CONFIG_DIR
	requests, err := os.ReadFile(filepath.Join(j.data, "requests.jsonl"))
	if err != nil || len(requests) == 0 {
		t.Fatalf("azsim request log: %v (%d bytes)", err, len(requests))
	}
	if !strings.Contains(string(requests), `"method":"PUT","path":"/subscriptions/`) || !strings.Contains(string(requests), "/virtualMachines/mngr-leak-check") {
		t.Error("azsim saw no VM PUT: create did not reach the VM")
	}
	sources := map[string]string{"mngr output": strings.Join(outputs, "\n"), "azsim requests.jsonl": string(requests)}
	keyFiles := 0
	err = filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), "PRIVATE KEY") && filepath.Base(filepath.Dir(p)) == "keys" && !strings.Contains(filepath.Base(p), ".") {
			keyFiles++ // a key file itself: the one place a private key belongs
			return nil
		}
		sources[p] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if keyFiles == 0 {
		t.Error("no private key files under the mngr home: the lifecycle did not run")
	}
	if !strings.Contains(sources["mngr output"], "leak-check") {
		t.Error("mngr output never named the agent: the lifecycle did not run")
	}
	for where, text := range sources {
		for what, needle := range map[string]string{"client secret": secret, "access token": token,
			"azsim JWT header": header, "a JWT": "eyJ", "a private key": "PRIVATE KEY"} {
			if strings.Contains(text, needle) {
				t.Errorf("%s found in %s", what, where)
			}
		}
	}
}
