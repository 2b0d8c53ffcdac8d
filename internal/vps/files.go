package vps

import (
	"fmt"
	"os"
)

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path) //nolint:gosec // G304: mngr's own key file
	if err != nil {
		return "", fmt.Errorf("read %q: %w", path, err)
	}
	return string(b), nil
}
