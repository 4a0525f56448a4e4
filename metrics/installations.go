package metrics

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/promptev/promptev-bridge/chat"
)

var _ chat.InstallationCounter = (*Metrics)(nil)

// installEvents are the installation events counted from the start, at zero.
var installEvents = []string{"installed", "uninstalled", "revoked", "broken", "unknown_team", "install_failed"}

// installMetrics are the series of app installations, registered by
// RegisterInstallations.
type installMetrics struct {
	once   sync.Once
	events *prometheus.CounterVec
}

// RegisterInstallations exports the installations of platform, an adapter
// serving OAuth installs: promptev_bridge_installation_events_total{platform,
// event} (installed, uninstalled, revoked, broken, unknown_team,
// install_failed; fed by InstallationEvent), and
// promptev_bridge_installation_broken{platform,team,error} 1 for each
// installation whose token the platform refused, read at each scrape. Only
// broken installations carry a team label, so the series stay few however
// many workspaces install the app.
func (m *Metrics) RegisterInstallations(platform string, r chat.InstallationReporter) error {
	var err error
	m.install.once.Do(func() {
		m.install.events = counter("installation_events_total",
			"What happened to app installations, by platform and event (installed, uninstalled, revoked, broken, unknown_team: an event from a workspace without one, install_failed).",
			"platform", "event")
		err = m.reg.Register(m.install.events)
	})
	if err != nil {
		return fmt.Errorf("metrics: register installations: %w", err)
	}
	for _, e := range installEvents {
		m.install.events.WithLabelValues(platform, e)
	}
	c := &brokenCollector{platform: platform, r: r, desc: prometheus.NewDesc(
		Namespace+"_installation_broken",
		"Installations whose token the platform refused (1 each), by team and the platform's error; the team gets no answers until it installs the app again.",
		[]string{"platform", "team", "error"}, nil)}
	if err := m.reg.Register(c); err != nil {
		return fmt.Errorf("metrics: register installations of %s: %w", platform, err)
	}
	return nil
}

// InstallationEvent implements chat.InstallationCounter. Before
// RegisterInstallations it counts nothing.
func (m *Metrics) InstallationEvent(platform, event string) {
	if m.install.events != nil {
		m.install.events.WithLabelValues(platform, event).Inc()
	}
}

type brokenCollector struct {
	platform string
	r        chat.InstallationReporter
	desc     *prometheus.Desc
}

func (c *brokenCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *brokenCollector) Collect(ch chan<- prometheus.Metric) {
	for _, b := range c.r.BrokenInstallations() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1, c.platform, b.Team, b.Reason)
	}
}
