package azure

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// tagCreator names the mngr process that creates a host's resources:
// "<machine>:<pid>", machine being a short hash of this machine's id. gc
// removes the remains of a create at once when the tag says the create ran
// on this machine and that process has ended; a create elsewhere is only
// judged by its age, since its process cannot be seen from here.
const tagCreator = "mngr-creator"

var (
	machineOnce sync.Once
	machineTag  string
)

// thisMachine is the short, stable id of this machine the creator tag
// carries (a hash: the tag must not leak the machine's id or name).
func thisMachine() string {
	machineOnce.Do(func() {
		id := ""
		if b, err := os.ReadFile("/etc/machine-id"); err == nil {
			id = strings.TrimSpace(string(b))
		} else if b, err := os.ReadFile("/var/lib/dbus/machine-id"); err == nil {
			id = strings.TrimSpace(string(b))
		}
		if id == "" {
			id, _ = os.Hostname()
		}
		sum := sha256.Sum256([]byte("mngr-creator\x00" + id))
		machineTag = hex.EncodeToString(sum[:6])
	})
	return machineTag
}

// creatorValue is the creator tag of resources this process makes.
func creatorValue() string {
	return thisMachine() + ":" + strconv.Itoa(os.Getpid())
}

// processAlive reports whether a process with pid exists on this machine
// (one owned by another user counts: it exists).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// createEnded reports whether the create that made a resource with these
// tags is known to have ended: it ran on this machine and its process is
// gone. Unknown (no tag, another machine, a live pid) is false: gc then
// waits for the resource's age instead.
func createEnded(tags map[string]*string, alive func(int) bool) (pid int, ended bool) {
	machine, p, ok := strings.Cut(tagValue(tags, tagCreator), ":")
	if !ok || machine != thisMachine() {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, !alive(pid)
}

// neverHadAgent reports whether a VM's tags carry no agent mirror at all:
// no agent record was ever written beside it, so its create did not get as
// far as the agent (a mirror emptied later keeps its header, "v1:0").
func neverHadAgent(tags map[string]*string) bool {
	_, ok := tags[tagAgents]
	return !ok
}

// isAlive is c.alive, or processAlive for a Client built without it.
func (c *Client) isAlive(pid int) bool {
	if c.alive != nil {
		return c.alive(pid)
	}
	return processAlive(pid)
}
