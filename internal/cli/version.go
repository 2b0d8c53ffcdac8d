package cli

import (
	"runtime"
	"runtime/debug"
)

// Build stamps, set at link time, for example:
//
//	go build -ldflags "-X github.com/mngr-azure/mngr/internal/cli.Version=v1.2.3 \
//	  -X github.com/mngr-azure/mngr/internal/cli.Commit=abc1234 \
//	  -X github.com/mngr-azure/mngr/internal/cli.BuildDate=2026-01-02T03:04:05Z"
//
// Unset stamps fall back to what the Go toolchain recorded in the binary
// (module version, vcs.revision, vcs.time).
var (
	// Version is the release version ("v1.2.3").
	Version = ""
	// Commit is the git commit the binary was built from.
	Commit = ""
	// BuildDate is when the binary was built (RFC 3339).
	BuildDate = ""
)

// versionInfo is what `mngr --version` reports.
type versionInfo struct {
	Version, Commit, BuildDate, GoVersion, Platform string
}

// String renders "v1.2.3 (commit abc1234, built DATE, go1.26.0 linux/amd64)".
func (v versionInfo) String() string {
	return v.Version + " (commit " + v.Commit + ", built " + v.BuildDate + ", " + v.GoVersion + " " + v.Platform + ")"
}

// currentVersion merges the link-time stamps with the build info.
func currentVersion(info *debug.BuildInfo, ok bool) versionInfo {
	v := versionInfo{Version: Version, Commit: Commit, BuildDate: BuildDate,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if ok && info != nil {
		if v.Version == "" && info.Main.Version != "" {
			v.Version = info.Main.Version
		}
		var rev, when, dirty string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		if v.Commit == "" && rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			v.Commit = rev + dirty
		}
		if v.BuildDate == "" {
			v.BuildDate = when
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	if v.BuildDate == "" {
		v.BuildDate = "unknown"
	}
	return v
}

func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	return currentVersion(info, ok).String()
}
