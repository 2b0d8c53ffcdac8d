package docker

import "path/filepath"

// npm's registry inside the VMs: azsim answers it from a cache on this
// machine (internal/azsim/npmcache).
const (
	// EnvNPMCache is azsim's --npm-cache default: the cache's directory.
	EnvNPMCache = "MNGR_AZSIM_NPM_CACHE"
	// EnvNPMUpstream is azsim's --npm-upstream default.
	EnvNPMUpstream = "MNGR_AZSIM_NPM_UPSTREAM"
	// EnvNPMOffline set to 1 is azsim's --npm-offline default.
	EnvNPMOffline = "MNGR_AZSIM_NPM_OFFLINE"
	// EnvNPMSeed is azsim's --npm-seed-from default: npm's own cache dir.
	EnvNPMSeed = "MNGR_AZSIM_NPM_SEED"
	// GuestNPMRegistryPort is where a VM reaches the cache:
	// http://127.0.0.1:4873/ (the port npm registries customarily use).
	GuestNPMRegistryPort = 4873
)

// LocalNPMCache returns the npm cache directory the tests and scripts give
// azsim: $MNGR_AZSIM_NPM_CACHE, else $XDG_CACHE_HOME/mngr-npm, else
// $HOME/.cache/mngr-npm ("" when none of them is set).
func LocalNPMCache(getenv func(string) string) string {
	if dir := getenv(EnvNPMCache); dir != "" {
		return dir
	}
	if dir := getenv("XDG_CACHE_HOME"); dir != "" {
		return filepath.Join(dir, "mngr-npm")
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".cache", "mngr-npm")
	}
	return ""
}
