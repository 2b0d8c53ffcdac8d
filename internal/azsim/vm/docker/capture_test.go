package docker

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

// TestCopyVolumeSharesOnlyImageLayers copies a disk laid out as an inner
// dockerd's (/var/lib/docker) the way a VM from a captured image gets its
// disk: the image layers' files are shared with the template (one inode),
// every other file and a container's own layer are private copies, and a
// write into the copy leaves the template as it was. Device nodes (overlay
// whiteouts) and trusted.* attributes come through.
func TestCopyVolumeSharesOnlyImageLayers(t *testing.T) {
	img := testImages(t)
	ctx := context.Background()
	b := &Backend{docker: dockerCLI{bin: "docker"}, dataDir: t.TempDir(), opts: Options{Images: img}}
	from, to := "azsim-test-copy-from-"+machineKey(b.dataDir, "a"), "azsim-test-copy-to-"+machineKey(b.dataDir, "b")
	for _, v := range []string{from, to} {
		if out, err := exec.CommandContext(ctx, "docker", "volume", "create", v).CombinedOutput(); err != nil {
			t.Fatalf("volume create: %v: %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("docker", "volume", "rm", "-f", v).Run() })
	}
	// sh runs script in a helper container with the two volumes at /from and /to.
	sh := func(script string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, "docker", "run", "--rm", "--cap-add=ALL", "--cap-drop=SYS_RESOURCE",
			"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined", "--network", "none",
			"-v", from+":/from", "-v", to+":/to", "--entrypoint", "/bin/sh", img.VM, "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", script, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	sh(`set -e
mkdir -p /from/overlay2/l1/diff/usr/bin /from/overlay2/c1/diff /from/overlay2/c1-init/diff /from/image/overlay2 /from/network/files
echo layer >/from/overlay2/l1/diff/usr/bin/tool
mknod /from/overlay2/l1/diff/usr/gone c 0 0
setfattr -n trusted.overlay.opaque -v y /from/overlay2/l1/diff/usr 2>/dev/null || true
echo rw >/from/overlay2/c1/diff/state
echo init >/from/overlay2/c1-init/diff/hosts
echo 'bolt db' >/from/network/files/local-kv.db
echo '{}' >/from/image/overlay2/repositories.json
echo l1 >/from/overlay2/l1/link`)
	if err := b.copyVolume(ctx, from, to); err != nil {
		t.Fatal(err)
	}
	got := sh(`for f in overlay2/l1/diff/usr/bin/tool overlay2/c1/diff/state overlay2/c1-init/diff/hosts network/files/local-kv.db image/overlay2/repositories.json overlay2/l1/link; do
  echo "$f $(stat -c %h /to/$f) $(cat /to/$f)"
done
stat -c '%F %t:%T' /to/overlay2/l1/diff/usr/gone
echo new >>/to/network/files/local-kv.db
cat /from/network/files/local-kv.db`)
	want := `overlay2/l1/diff/usr/bin/tool 2 layer
overlay2/c1/diff/state 1 rw
overlay2/c1-init/diff/hosts 1 init
network/files/local-kv.db 1 bolt db
image/overlay2/repositories.json 1 {}
overlay2/l1/link 1 l1
character special file 0:0
bolt db`
	if got != want {
		t.Errorf("after the copy:\n%s\nwant:\n%s", got, want)
	}
}
