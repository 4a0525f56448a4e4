// Package metrics exports the bridge's measurements to Prometheus and serves
// the operator's HTTP side port: /healthz, /readyz, /metrics and /debug/store.
//
// Metrics implements bridge.Metrics on a registry of its own (never the
// client_golang default registry), so several bridges (or tests) can run in
// one process without colliding. Server serves the side port.
package metrics
