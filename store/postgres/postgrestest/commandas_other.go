//go:build !unix

package postgrestest

import (
	"os/exec"
	"os/user"
)

// commandAs runs the command as the current user: only unix processes run as root here.
func commandAs(_ *user.User, name string, args ...string) *exec.Cmd {
	return exec.Command(name, args...)
}
