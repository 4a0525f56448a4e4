package cli

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
)

// buildVersion returns the version of this build: e.Version when set, else
// the module version, else "dev".
func buildVersion(e *Env) string {
	if e.Version != "" {
		return e.Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func cmdVersion(_ context.Context, e *Env, args []string) int {
	fs := newFlags(e, "version", "version", "Prints the version of this build, the commit it was built from\n"+
		"(when the build recorded it) and the Go version. Also: promptev-bridge --version.")
	if code, done := parseFlags(e, fs, args); done {
		return code
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintln(e.Stdout, describeBuild(buildVersion(e), bi))
	return ExitOK
}

// describeBuild renders the version line: "promptev-bridge VERSION (commit
// REV[, modified], TIME; GO)". go build in a git checkout records the
// commit (debug.BuildInfo's vcs.* settings); go install of a tagged version
// records the module version instead.
func describeBuild(version string, bi *debug.BuildInfo) string {
	goVersion := "unknown Go version"
	var details []string
	if bi != nil {
		goVersion = bi.GoVersion
		var rev, at string
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" {
			commit := "commit " + rev[:min(len(rev), 12)]
			if modified {
				commit += " with local changes"
			}
			details = append(details, commit)
			if at != "" {
				details = append(details, at)
			}
		}
	}
	details = append(details, goVersion)
	return fmt.Sprintf("promptev-bridge %s (%s)", version, strings.Join(details, ", "))
}
