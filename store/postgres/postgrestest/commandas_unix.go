//go:build unix

package postgrestest

import (
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
)

// commandAs returns a command that runs as u.
func commandAs(u *user.User, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	cmd.Dir = "/"
	return cmd
}
