//go:build e2e

package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
)

// caConfig trusts only the CA in file.
func caConfig(t testing.TB, file string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", file)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
