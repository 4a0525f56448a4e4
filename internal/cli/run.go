package cli

import (
	"context"

	"github.com/promptev/promptev-bridge/internal/daemon"
)

func cmdRun(ctx context.Context, e *Env, args []string) int {
	fs := newFlags(e, "run", "run [--config FILE]",
		"Runs the bridge: the adapters enabled in the config, the store and the HTTP\n"+
			"side port (/healthz /readyz /metrics /debug/store). SIGINT or SIGTERM shuts\n"+
			"down in order: stop intake, let running answers finish (runs.shutdown_grace),\n"+
			"close the store and the side port. A second signal exits at once.")
	path := fs.String("config", defaultConfigPath, "config file")
	if code, done := parseFlags(e, fs, args); done {
		return code
	}
	cfg, ok := loadConfig(e, e.Stderr, *path)
	if !ok {
		return ExitFailure
	}
	stderr := newSharedStderr(e.Stderr)
	log := daemon.NewLogger(stderr, cfg.Log)
	host := terminalHost(e, false)
	host.ShareTerminal = stderr.share
	err := daemon.Run(ctx, cfg, daemon.Options{
		Logger: log, Host: host, Version: buildVersion(e), OnSidePort: e.OnSidePort,
	})
	if err != nil {
		log.Error("promptev-bridge failed", "err", err)
		return ExitFailure
	}
	return ExitOK
}
