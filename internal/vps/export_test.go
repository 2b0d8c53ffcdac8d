package vps

import "time"

// SetSSHRetryPauses shortens p's pauses after a dropped SSH connection and
// after a failed cloud-init check, so tests of many drops stay fast; the
// number of tries is left as shipped.
func SetSSHRetryPauses(p *Provider, pause, cloudInitPause time.Duration) {
	p.retry.pause = pause
	p.retry.cloudInitPause = cloudInitPause
}

// SSHTries is how many times setup runs a command that is safe to repeat
// when its SSH connection drops.
func SSHTries(p *Provider) int { return p.retry.tries }
