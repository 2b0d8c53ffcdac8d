package azure

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

	"github.com/mngr-azure/mngr/internal/scripttest"
)

func TestSelfStopScriptUsesTheConfiguredCloud(t *testing.T) {
	cases := []struct {
		name             string
		cfg              Config
		endpoint, tokRes string
	}{
		{"public", Config{}, "https://management.azure.com", "resource=https%3A%2F%2Fmanagement.core.windows.net%2F'"},
		{"china", Config{Cloud: "AzureChina"}, "https://management.chinacloudapi.cn", "resource=https%3A%2F%2Fmanagement.core.chinacloudapi.cn"},
		{"custom", Config{ResourceManagerEndpoint: "https://127.0.0.1:4443/", ResourceManagerAudience: "https://management.azsim.local/", AuthorityHost: "https://127.0.0.1:4443/"},
			"https://127.0.0.1:4443", "resource=https%3A%2F%2Fmanagement.azsim.local%2F'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.ResourceGroup = "mngr"
			s := (&Client{cfg: c.cfg, subscription: "sub-1"}).SelfStopScript()
			// The endpoint is the script's first argument (core.ScriptCall).
			if !strings.HasPrefix(s, "#!/bin/sh\nset -- "+c.endpoint+" ") {
				t.Errorf("script does not take %s as its endpoint argument:\n%s", c.endpoint, s)
			}
			if !strings.Contains(s, strings.TrimSuffix(c.tokRes, "'")) {
				t.Errorf("script does not ask for a token for %s:\n%s", c.tokRes, s)
			}
			// The token is the shared identity's, named by its resource id.
			if !strings.Contains(s, "msi_res_id=%2Fsubscriptions%2Fsub-1%2FresourceGroups%2Fmngr%2Fproviders%2FMicrosoft.ManagedIdentity%2FuserAssignedIdentities%2Fmngr-vm-identity") {
				t.Errorf("script does not ask for the token of %s:\n%s", identityName, s)
			}
			if c.name != "public" && strings.Contains(s, "management.azure.com") {
				t.Errorf("script for %s mentions the public cloud:\n%s", c.name, s)
			}
			checkShell(t, s)
		})
	}
	if s := (&Client{cfg: Config{Cloud: "Nowhere"}}).SelfStopScript(); s != "" {
		t.Errorf("invalid cloud rendered a script")
	}
}

// TestSelfStopScriptOutcomes runs the script against stand-ins for curl,
// python3 and logger: only an accepted POST exits 0; the exit status tells
// the idle stop which refusals to retry (2 a missing role, 3 a missing or
// unknown identity, 4 no answer or a transient error, 1 final), and the last
// line on stderr names Resource Manager's answer.
func TestSelfStopScriptOutcomes(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	script := selfStopScript(cloud.ServiceConfiguration{Endpoint: "https://arm.example/", Audience: "https://arm.example/"}, "/subscriptions/s/resourceGroups/mngr/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mngr-vm-identity")
	for _, c := range []struct {
		name, tokenCode, postCode, postBody string
		wantExit                            int
		wantLast                            string
	}{
		{"accepted", "200", "202", "", 0, "accepted (HTTP 202)"},
		{"accepted 200", "200", "200", "", 0, "accepted (HTTP 200)"},
		{"no role", "200", "403", `{"error":{"code":"AuthorizationFailed","message":"no"}}`, 2, "Resource Manager answered HTTP 403 AuthorizationFailed"},
		{"principal not found", "200", "403", `{"error":{"code":"PrincipalNotFound","message":"no"}}`, 3, "Resource Manager answered HTTP 403 PrincipalNotFound"},
		{"throttled", "200", "429", `{"error":{"code":"TooManyRequests"}}`, 4, "Resource Manager answered HTTP 429 TooManyRequests"},
		{"server error", "200", "503", "", 4, "Resource Manager answered HTTP 503"},
		{"no answer", "200", "000", "", 4, "Resource Manager answered HTTP 000"},
		{"vm gone", "200", "404", `{"error":{"code":"ResourceNotFound"}}`, 1, "Resource Manager answered HTTP 404 ResourceNotFound"},
		{"identity not on the VM", "400", "", "", 3, "the VM has no such identity"},
		{"imds down", "000", "", "", 4, "(HTTP 000)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin := t.TempDir()
			calls := filepath.Join(bin, "calls")
			writeExec(t, filepath.Join(bin, "curl"), `#!/bin/sh
echo "curl $*" >> `+calls+`
out=""; prev=""
for a in "$@"; do [ "$prev" = "-o" ] && out=$a; prev=$a; done
case "$*" in
  *oauth2/token*) if [ "`+c.tokenCode+`" = 200 ]; then echo '{"access_token":"tok-123"}' > "$out"; else echo '{"error":"invalid_request","error_description":"Identity not found"}' > "$out"; fi
    printf '%s' "`+c.tokenCode+`" ;;
  *resourceId*) printf '/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v' ;;
  *deallocate*) [ "$1" = "--config" ] && echo "stdin: $(cat)" >> `+calls+`
    printf '%s' '`+c.postBody+`' > "$out"; printf '%s' "`+c.postCode+`" ;;
esac
`)
			writeExec(t, filepath.Join(bin, "logger"), "#!/bin/sh\necho \"logger $*\" >> "+calls+"\n")
			path := filepath.Join(t.TempDir(), "self-stop")
			writeExec(t, path, script)
			cmd := exec.CommandContext(t.Context(), "sh", path)
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != c.wantExit {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, c.wantExit, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if last := lines[len(lines)-1]; !strings.Contains(last, c.wantLast) {
				t.Errorf("last stderr line %q lacks %q", last, c.wantLast)
			}
			log, _ := os.ReadFile(calls)
			for _, line := range strings.Split(string(log), "\n") {
				if strings.HasPrefix(line, "curl ") && strings.Contains(line, "tok-123") {
					t.Errorf("the token is on curl's command line: %s", line)
				}
			}
			if c.tokenCode != "200" {
				if strings.Contains(string(log), "deallocate") {
					t.Errorf("POST made without a token:\n%s", log)
				}
				return
			}
			if !strings.Contains(string(log), `stdin: header = "Authorization: Bearer tok-123"`) || !strings.Contains(string(log), "https://arm.example/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v/deallocate?api-version=") {
				t.Errorf("POST not made as expected:\n%s", log)
			}
			if c.wantExit != 0 && !strings.Contains(string(log), "refused (HTTP "+c.postCode+")") {
				t.Errorf("refusal not logged:\n%s", log)
			}
		})
	}
}

// TestScriptsParse checks the embedded scripts with sh -n and bash -n.
func TestScriptsParse(t *testing.T) {
	if got := scripttest.CheckSyntax(t, os.DirFS("scripts")); len(got) != 1 || got[0] != "self_stop.sh" {
		t.Errorf("scripts = %q, want self_stop.sh", got)
	}
}

func writeExec(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o700); err != nil {
		t.Fatal(err)
	}
}

func checkShell(t *testing.T, script string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "sh", "-n")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("script does not parse: %v\n%s\n%s", err, out, script)
	}
}
