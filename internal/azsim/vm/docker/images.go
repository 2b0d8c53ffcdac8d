package docker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mngr-azure/mngr/internal/core"
)

// Images names what scripts/images.sh built.
type Images struct {
	// VM is the simulated-VM image, e.g. "mngr-azsim-vm:<hash>".
	VM string
	// AgentTar is the `docker save` tarball of the default agent image that
	// every new VM loads into its own dockerd; "" boots VMs without it.
	AgentTar string
}

// Environment variables (and keys of images.env) naming the images.
const (
	EnvVMImage  = "MNGR_AZSIM_VM_IMAGE"
	EnvAgentTar = "MNGR_AGENT_IMAGE_TAR"
	// EnvImagesCache overrides the cache dir scripts/images.sh writes.
	EnvImagesCache = "MNGR_IMAGES_CACHE"
)

// ImagesCacheDir is where scripts/images.sh keeps its cache and images.env:
// $MNGR_IMAGES_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/mngr-images.
func ImagesCacheDir(getenv func(string) string) string {
	if d := getenv(EnvImagesCache); d != "" {
		return d
	}
	if d := getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "mngr-images")
	}
	return filepath.Join(getenv("HOME"), ".cache", "mngr-images")
}

// ImagesFromEnv returns the images named by MNGR_AZSIM_VM_IMAGE and
// MNGR_AGENT_IMAGE_TAR, each falling back to the images.env file that
// scripts/images.sh wrote. It fails with core.ErrUnavailable (and a hint to
// run the script) when no VM image is named anywhere.
func ImagesFromEnv(getenv func(string) string) (Images, error) {
	img := Images{VM: getenv(EnvVMImage), AgentTar: getenv(EnvAgentTar)}
	if img.VM != "" && img.AgentTar != "" {
		return img, nil
	}
	path := filepath.Join(ImagesCacheDir(getenv), "images.env")
	data, err := os.ReadFile(path) //nolint:gosec // the cache file the images script writes
	switch {
	case errors.Is(err, os.ErrNotExist):
		if img.VM != "" {
			return img, nil
		}
		return Images{}, core.WithHint(fmt.Errorf("simulated-VM image: %s is not set and %s does not exist: %w", EnvVMImage, path, core.ErrUnavailable),
			"build the images with scripts/images.sh (needs root, docker and debootstrap)")
	case err != nil:
		return Images{}, fmt.Errorf("read %s: %w", path, err)
	}
	vals := parseEnvFile(data)
	if img.VM == "" {
		img.VM = vals[EnvVMImage]
	}
	if img.AgentTar == "" {
		img.AgentTar = vals[EnvAgentTar]
	}
	if img.VM == "" {
		return Images{}, core.WithHint(fmt.Errorf("simulated-VM image: %s names none: %w", path, core.ErrUnavailable),
			"build the images with scripts/images.sh")
	}
	return img, nil
}

// parseEnvFile reads KEY=VALUE lines, skipping blanks and comments.
func parseEnvFile(data []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	return out
}

// keepAgentTar gives the data dir its own link (or copy) of the agent image
// tarball: machines mount it, and a stopped machine must still start after
// scripts/images.sh replaced the tarball in its cache.
func keepAgentTar(root, src string) (string, error) {
	dir := filepath.Join(root, "images")
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // mounted read-only into the VMs
		return "", fmt.Errorf("create %q: %w", dir, err)
	}
	// The script names tarballs by content hash: an existing one is the same.
	dst := filepath.Join(dir, filepath.Base(src))
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	tmp := dst + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		if err := copyFile(src, tmp); err != nil {
			return "", fmt.Errorf("keep agent image %q: %w", src, err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", fmt.Errorf("keep agent image %q: %w", src, err)
	}
	return dst, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src) //nolint:gosec // the tarball the images script built
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644) //nolint:gosec // read by the VMs
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
