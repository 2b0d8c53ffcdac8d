package cli

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionFlagStamps(t *testing.T) {
	old := []string{Version, Commit, BuildDate}
	t.Cleanup(func() { Version, Commit, BuildDate = old[0], old[1], old[2] })
	Version, Commit, BuildDate = "v9.8.7", "abc1234", "2026-01-02T03:04:05Z"
	te := newTestEnv(t)
	out := te.mustRun("--version")
	want := "mngr v9.8.7 (commit abc1234, built 2026-01-02T03:04:05Z, " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	if out != want {
		t.Errorf("--version = %q, want %q", out, want)
	}
}

func TestVersionFallsBackToBuildInfo(t *testing.T) {
	old := []string{Version, Commit, BuildDate}
	t.Cleanup(func() { Version, Commit, BuildDate = old[0], old[1], old[2] })
	Version, Commit, BuildDate = "", "", ""
	info := &debug.BuildInfo{Main: debug.Module{Version: "v1.0.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-05-06T07:08:09Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	v := currentVersion(info, true)
	if v.Version != "v1.0.0" || v.Commit != "0123456789ab+dirty" || v.BuildDate != "2026-05-06T07:08:09Z" || v.GoVersion != runtime.Version() {
		t.Errorf("from build info: %+v", v)
	}
	// A stamp wins over the build info.
	Commit = "feedbee"
	if v := currentVersion(info, true); v.Commit != "feedbee" || v.Version != "v1.0.0" {
		t.Errorf("stamped commit: %+v", v)
	}
	Commit = ""
	v = currentVersion(nil, false)
	if v.Version != "(devel)" || v.Commit != "unknown" || v.BuildDate != "unknown" || !strings.HasPrefix(v.GoVersion, "go") {
		t.Errorf("no build info: %+v", v)
	}
}
