package vps

import (
	"strings"
	"testing"
)

// TestUserDataBaked: a create from a baked image leaves out exactly the
// steps the image holds and keeps every per-host one.
func TestUserDataBaked(t *testing.T) {
	o := sampleOptions(t)
	full, err := UserData(o)
	if err != nil {
		t.Fatal(err)
	}
	o.Baked = true
	baked, err := UserData(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range BakedSteps {
		marker := ">> " + FailedMarker
		if !strings.Contains(string(full), "echo "+s+" "+marker) && !strings.Contains(string(full), "echo '"+s+"' "+marker) {
			t.Fatalf("the stock user data has no step %q", s)
		}
		if strings.Contains(string(baked), "echo "+s+" "+marker) || strings.Contains(string(baked), "echo '"+s+"' "+marker) {
			t.Errorf("the baked user data still runs step %q", s)
		}
	}
	for _, s := range []string{"root-authorized-key", "sshd-tuning", "scrub-user-data", "host-data-dir", "ed25519_private", ReadyMarker} {
		if !strings.Contains(string(baked), s) {
			t.Errorf("the baked user data lost the per-host part %q", s)
		}
	}
	if !strings.Contains(BakeRecipe(DockerInstallDebian), DockerAptVersion) || !strings.Contains(BakeRecipe(DockerInstallDebian), "cloud-init clean") {
		t.Error("the bake recipe does not carry the pinned Docker version and the scrub")
	}
}
