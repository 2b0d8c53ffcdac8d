// Command azsim runs a local Azure (ARM + Entra ID) for mngr and the az CLI.
package main

import (
	"os"

	"github.com/mngr-azure/mngr/internal/azsim/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
