// Package e2e holds mngr's system tests: the Azure journeys (the daily work
// loop among them) and crash matrices against azsim (with real simulated
// VMs where docker and the images of scripts/images.sh are there), the
// concurrency, failover and secrets checks, the release cross-build, and the
// start-up and transfer benchmarks.
// They build the mngr and azsim binaries as releases are built and run
// them as a user would, which takes minutes, so every test file carries
// the e2e build tag and plain `go test ./...` skips them:
//
//	go test -tags e2e ./e2e -run TestAzureJourneyOnAzsim -count=1
//
// scripts/test.sh runs them all after the unit layer.
package e2e
