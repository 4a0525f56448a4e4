package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/promptev/promptev-bridge/chat"
)

// RegisterLanes exports the lanes platform fell back from, per workspace
// (chat.LaneReporter), as promptev_bridge_lane_fallback{platform,workspace,
// lane,error} 1, read at each scrape.
func (m *Metrics) RegisterLanes(platform string, r chat.LaneReporter) error {
	c := &laneCollector{platform: platform, r: r, desc: prometheus.NewDesc(
		Namespace+"_lane_fallback",
		"Progress lanes a platform stopped using in a workspace that lacks them (1 per lane), with the platform's answer.",
		[]string{"platform", "workspace", "lane", "error"}, nil)}
	if err := m.reg.Register(c); err != nil {
		return fmt.Errorf("metrics: register lanes of %s: %w", platform, err)
	}
	return nil
}

type laneCollector struct {
	platform string
	r        chat.LaneReporter
	desc     *prometheus.Desc
}

func (c *laneCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *laneCollector) Collect(ch chan<- prometheus.Metric) {
	for _, f := range c.r.LaneFallbacks() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1, c.platform, f.Workspace, f.Lane, f.Error)
	}
}
