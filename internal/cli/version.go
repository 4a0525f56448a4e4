package cli

import (
	"context"
	"fmt"
	"runtime/debug"
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
	fs := newFlags(e, "version", "version", "Prints the version of this build.")
	if code, done := parseFlags(e, fs, args); done {
		return code
	}
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	fmt.Fprintf(e.Stdout, "promptev-bridge %s (%s)\n", buildVersion(e), goVersion)
	return ExitOK
}
