// Command promptev-bridge connects Slack and Discord to Promptev agents.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stdout, "promptev-bridge (under construction)")
}
