// Command mngr creates and manages AI coding agents locally or on cloud hosts.
package main

import (
	"os"

	"github.com/mngr-azure/mngr/internal/cli"
	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/provider/azure"
	"github.com/mngr-azure/mngr/internal/provider/azure/azurecmd"
	"github.com/mngr-azure/mngr/internal/provider/local"
)

func main() { os.Exit(int(run())) }

// run registers the provider backends and command groups, then runs mngr.
func run() cli.ExitCode {
	reg := &core.Registry{}
	reg.Register(local.Backend())
	// Backends build lazily: no SDK or network work before a command needs
	// the provider.
	reg.Register(azure.Backend())
	return cli.Main(reg, azurecmd.NewCmdAzure)
}
