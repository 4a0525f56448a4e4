package postgrestest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// throwaway is a PostgreSQL cluster in a temporary directory.
type throwaway struct {
	dir  string
	data string
	dsn  string
	run  func(name string, args ...string) *exec.Cmd
}

// startThrowaway runs initdb into a temporary directory and starts the
// server on a free loopback port.
func startThrowaway() (*throwaway, error) {
	initdb, err := findProgram("initdb")
	if err != nil {
		return nil, err
	}
	pgctl, err := findProgram("pg_ctl")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "promptev-bridge-pg-")
	if err != nil {
		return nil, err
	}
	c := &throwaway{dir: dir, data: filepath.Join(dir, "data"), run: exec.Command}
	if os.Geteuid() == 0 {
		u, err := unprivilegedUser()
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		if err := chownTree(dir, u); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		c.run = func(name string, args ...string) *exec.Cmd { return commandAs(u, name, args...) }
	}
	if out, err := c.run(initdb, "-D", c.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, lastLine(out))
	}
	port, err := freePort()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, dir)
	if out, err := c.run(pgctl, "-D", c.data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start").CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("pg_ctl start: %v: %s", err, lastLine(out))
	}
	c.dsn = fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", port)
	return c, nil
}

// stop stops the server and removes its directory.
func (c *throwaway) stop() {
	if pgctl, err := findProgram("pg_ctl"); err == nil {
		_ = c.run(pgctl, "-D", c.data, "-m", "immediate", "-w", "stop").Run()
	}
	_ = os.RemoveAll(c.dir)
}

// findProgram looks for a PostgreSQL server program on PATH and in Debian's
// versioned directories.
func findProgram(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", fmt.Errorf("%s not found (install PostgreSQL's server package)", name)
}

// unprivilegedUser is the user a root process runs the cluster as.
func unprivilegedUser() (*user.User, error) {
	for _, name := range []string{"postgres", "nobody"} {
		if u, err := user.Lookup(name); err == nil {
			return u, nil
		}
	}
	return nil, errors.New("running as root and neither a postgres nor a nobody user exists")
}

func chownTree(dir string, u *user.User) error {
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return err
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return err
	}
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}
