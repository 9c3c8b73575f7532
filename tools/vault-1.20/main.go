// Command vault builds the Vault server used by this project's dev loop and
// integration tests. It is pinned in go.mod so the plugin's own module stays lean.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
