package metrics

import (
	"testing"
	"time"
)

// BenchmarkRecord measures the cost the bridge pays per measurement.
func BenchmarkRecord(b *testing.B) {
	m := New(Options{NoRuntimeCollectors: true})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Edit("slack", "sent")
			m.AgentEvent("slack", "processing")
			m.TimeToPlaceholder("slack", 3*time.Millisecond)
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/3, "ns/measurement")
}
