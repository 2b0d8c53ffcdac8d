//go:build race

package cli

// raceDetector is true in a -race build, whose memory use is several times
// a normal build's, so memory bounds do not apply.
const raceDetector = true
