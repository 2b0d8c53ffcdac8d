package docker

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/azsim/vm"
)

// TestOVFEnvironment parses the provisioning document as cloud-init's Azure
// datasource reads it (elements by local name): the custom data comes back
// byte for byte from CustomData's base64, with the admin user, host name
// and keys beside it, and no UserPassword.
func TestOVFEnvironment(t *testing.T) {
	custom := []byte("#cloud-config\nssh_keys:\n  ed25519_private: |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n    <&>\n")
	spec := vm.Spec{Name: "vm-one", ComputerName: "box<1>", AdminUser: "azureuser", SSHPublicKeys: []string{"ssh-ed25519 AAAA a@b", " "}, CustomData: custom}
	var doc struct {
		XMLName xml.Name
		Set     struct {
			HostName, UserName, CustomData string
			UserPassword                   *string
			Keys                           []struct{ Path, Value string } `xml:"SSH>PublicKeys>PublicKey"`
		} `xml:"ProvisioningSection>LinuxProvisioningConfigurationSet"`
	}
	raw := ovfEnvironment(spec)
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, raw)
	}
	if doc.XMLName.Local != "Environment" || doc.XMLName.Space != "http://schemas.dmtf.org/ovf/environment/1" {
		t.Errorf("root = %+v", doc.XMLName)
	}
	got, err := base64.StdEncoding.DecodeString(doc.Set.CustomData)
	if err != nil || !bytes.Equal(got, custom) {
		t.Errorf("CustomData decodes to %q (%v), want %q", got, err, custom)
	}
	if doc.Set.HostName != "box<1>" || doc.Set.UserName != "azureuser" || doc.Set.UserPassword != nil {
		t.Errorf("host %q user %q password %v", doc.Set.HostName, doc.Set.UserName, doc.Set.UserPassword)
	}
	if d := cmp.Diff([]struct{ Path, Value string }{{"/home/azureuser/.ssh/authorized_keys", "ssh-ed25519 AAAA a@b"}}, doc.Set.Keys); d != "" {
		t.Errorf("keys (-want +got)\n%s", d)
	}
	// Without custom data there is no CustomData element.
	spec.CustomData = nil
	if strings.Contains(string(ovfEnvironment(spec)), "CustomData") {
		t.Error("a VM without custom data has a CustomData element")
	}
}

// TestProvisionTar lists what `docker cp` unpacks into a new machine:
// ovf-env.xml 0600 in a 0700 directory, the WireServer unit enabled for
// sysinit.target and its address script.
func TestProvisionTar(t *testing.T) {
	b, err := provisionTar(vm.Spec{AdminUser: "azureuser", CustomData: []byte("x")}, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		Name string
		Mode int64
		Link string
	}
	var got []entry
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s is not root's", h.Name)
		}
		got = append(got, entry{h.Name, h.Mode, h.Linkname})
	}
	want := []entry{
		{"var/lib/waagent/", 0o700, ""},
		{"var/lib/waagent/ovf-env.xml", 0o600, ""},
		{"usr/local/lib/azsim/wireserver-address", 0o755, ""},
		{"etc/systemd/system/azsim-wireserver.service", 0o644, ""},
		{"etc/systemd/system/sysinit.target.wants/", 0o755, ""},
		{"etc/systemd/system/sysinit.target.wants/azsim-wireserver.service", 0o777, "/etc/systemd/system/azsim-wireserver.service"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("tar entries (-want +got)\n%s", d)
	}
	for _, want := range []string{"DefaultDependencies=no\n", "Before=sysinit.target network-pre.target cloud-init-local.service shutdown.target\n",
		"bind=168.63.129.16,", "UNIX-CONNECT:/var/lib/azsim/host/wireserver.sock\n", "WantedBy=sysinit.target\n"} {
		if !strings.Contains(wireServerUnit, want) {
			t.Errorf("wireserver unit lacks %q:\n%s", want, wireServerUnit)
		}
	}
}

// TestWireServerHandler: the version list, and 404 for everything else.
func TestWireServerHandler(t *testing.T) {
	for _, c := range []struct {
		method, target string
		code           int
		body           string
	}{
		{http.MethodGet, "/?comp=versions", 200, "<Preferred>\n    <Version>2015-04-05</Version>"},
		{http.MethodGet, "/machine/?comp=goalstate", 404, "not served by azsim"},
		{http.MethodPost, "/?comp=versions", 404, ""},
	} {
		rec := httptest.NewRecorder()
		wireServerHandler{}.ServeHTTP(rec, httptest.NewRequest(c.method, c.target, nil))
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.body) {
			t.Errorf("%s %s = %d %q, want %d with %q", c.method, c.target, rec.Code, rec.Body.String(), c.code, c.body)
		}
	}
}
