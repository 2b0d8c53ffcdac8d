package docker

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strings"
	"time"

	"github.com/mngr-azure/mngr/internal/azsim/vm"
)

// Files a new machine gets on its disk before its first boot (copied into
// the created container, so they live on the VM's disk like any file the
// guest writes, and stay across stop/start).
const (
	// guestOVFEnv is where cloud-init's Azure datasource leaves the
	// provisioning document (mode 0600, directory 0700): the custom data
	// inside, only the UserPassword redacted.
	guestOVFEnv = "/var/lib/waagent/ovf-env.xml"
	// guestWireServerUnit answers 168.63.129.16 (Azure's WireServer) inside
	// the VM from the earliest boot, so nothing sent there leaves the machine.
	guestWireServerUnit = "/etc/systemd/system/azsim-wireserver.service"
	// guestWireServerAddr puts that address on the VM's dummy interface.
	guestWireServerAddr = "/usr/local/lib/azsim/wireserver-address"
	// wireServerIP is Azure's fixed WireServer address.
	wireServerIP = "168.63.129.16"
)

// ovfEnvironment renders the OVF provisioning document the way cloud-init's
// Azure datasource writes it to /var/lib/waagent: Python's ElementTree
// output (ns0/ns1 prefixes, no XML declaration), with the custom data as
// the base64 text of the CustomData element. azsim VMs have no password
// (mngr disables password login), so no UserPassword element is written.
func ovfEnvironment(spec vm.Spec) []byte {
	esc := func(s string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	host := spec.ComputerName
	if host == "" {
		host = spec.Name
	}
	var keys strings.Builder
	for _, k := range spec.SSHPublicKeys {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		fmt.Fprintf(&keys, "<ns1:PublicKey><ns1:Fingerprint /><ns1:Path>/home/%s/.ssh/authorized_keys</ns1:Path><ns1:Value>%s</ns1:Value></ns1:PublicKey>",
			esc(spec.AdminUser), esc(k))
	}
	custom := ""
	if len(spec.CustomData) > 0 {
		custom = "<ns1:CustomData>" + base64.StdEncoding.EncodeToString(spec.CustomData) + "</ns1:CustomData>"
	}
	return []byte(`<ns0:Environment xmlns:ns0="http://schemas.dmtf.org/ovf/environment/1" xmlns:ns1="http://schemas.microsoft.com/windowsazure" xmlns:ns2="http://www.w3.org/2001/XMLSchema-instance">` +
		`<ns1:ProvisioningSection><ns1:Version>1.0</ns1:Version><ns1:LinuxProvisioningConfigurationSet>` +
		`<ns1:ConfigurationSetType>LinuxProvisioningConfiguration</ns1:ConfigurationSetType>` +
		`<ns1:HostName>` + esc(host) + `</ns1:HostName><ns1:UserName>` + esc(spec.AdminUser) + `</ns1:UserName>` +
		`<ns1:DisableSshPasswordAuthentication>true</ns1:DisableSshPasswordAuthentication>` +
		`<ns1:SSH><ns1:PublicKeys>` + keys.String() + `</ns1:PublicKeys><ns1:KeyPairs /></ns1:SSH>` +
		custom + `</ns1:LinuxProvisioningConfigurationSet></ns1:ProvisioningSection>` +
		`<ns1:PlatformSettingsSection><ns1:Version>1.0</ns1:Version><ns1:PlatformSettings>` +
		`<ns1:KmsServerHostname>kms.core.windows.net</ns1:KmsServerHostname><ns1:ProvisionGuestAgent>true</ns1:ProvisionGuestAgent>` +
		`<ns1:GuestAgentPackageName ns2:nil="true" /><ns1:RetainWindowsPEPassInUnattend>true</ns1:RetainWindowsPEPassInUnattend>` +
		`<ns1:RetainOfflineServicingPassInUnattend>true</ns1:RetainOfflineServicingPassInUnattend><ns1:PreprovisionedVm>false</ns1:PreprovisionedVm>` +
		`</ns1:PlatformSettings></ns1:PlatformSettingsSection></ns0:Environment>`)
}

// wireServerUnit runs azsim's WireServer forwarder from early boot
// (sysinit), before any network or cloud-init unit.
const wireServerUnit = `[Unit]
Description=Azure WireServer at 168.63.129.16 (answered by azsim)
DefaultDependencies=no
After=local-fs.target
Before=sysinit.target network-pre.target cloud-init-local.service shutdown.target
Conflicts=shutdown.target
ConditionPathExists=` + guestHostDir + `

[Service]
ExecStartPre=` + guestWireServerAddr + `
ExecStart=/usr/bin/socat TCP-LISTEN:80,bind=` + wireServerIP + `,reuseaddr,fork UNIX-CONNECT:` + guestHostDir + "/" + wireServerSocketName + `
Restart=always
RestartSec=1

[Install]
WantedBy=sysinit.target
`

// wireServerAddress is the ExecStartPre of wireServerUnit: 168.63.129.16 on
// the VM's dummy interface imds0 (which also carries 169.254.169.254), or
// on lo without dummy links. Idempotent.
const wireServerAddress = `#!/bin/sh
# azsim: puts Azure's WireServer address on this VM's own dummy interface,
# so that every connection to it stays inside the VM. Idempotent.
set -e
addr=` + wireServerIP + `/32
if ip -o addr show | grep -q ' 168\.63\.129\.16/'; then exit 0; fi
if ip link show imds0 >/dev/null 2>&1 || ip link add imds0 type dummy 2>/dev/null; then
  ip link set imds0 up
  ip addr add "$addr" dev imds0
else
  ip addr add "$addr" dev lo
fi
`

// provisionTar is the tar stream `docker cp - CONTAINER:/` unpacks into a
// created machine before its first boot: the provisioning document and the
// WireServer unit (enabled).
func provisionTar(spec vm.Spec, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: now})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: now}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	rel := func(p string) string { return strings.TrimPrefix(p, "/") }
	steps := []func() error{
		func() error { return dir(rel("/var/lib/waagent"), 0o700) },
		func() error { return file(rel(guestOVFEnv), 0o600, ovfEnvironment(spec)) },
		func() error { return file(rel(guestWireServerAddr), 0o755, []byte(wireServerAddress)) },
		func() error { return file(rel(guestWireServerUnit), 0o644, []byte(wireServerUnit)) },
		func() error { return dir(rel("/etc/systemd/system/sysinit.target.wants"), 0o755) },
		func() error {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: rel("/etc/systemd/system/sysinit.target.wants/azsim-wireserver.service"),
				Linkname: guestWireServerUnit, Mode: 0o777, ModTime: now})
		},
		tw.Close,
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, fmt.Errorf("provisioning files: %w", err)
		}
	}
	return buf.Bytes(), nil
}
