package realtime

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkFanOut measures the per-message cost of handing one sensor_update to 100
// local clients (filter test + queue), the path every stored sample takes on every
// instance. Queues are drained as a writer would.
func BenchmarkFanOut(b *testing.B) {
	m, _ := newMetrics(nil, nil)
	s := &Server{cfg: Config{QueueSize: 128, SlowClientTimeout: time.Minute}, metrics: m, now: time.Now,
		clients: map[*client]struct{}{}}
	var cs []*client
	for i := range 100 {
		c := &client{srv: s, notify: make(chan struct{}, 1)}
		if i%2 == 0 {
			c.filter = parseFilters([]byte(fmt.Sprintf(`{"site_code":"LL","min_grade":"B","device_id":"D%d"}`, i)))
		}
		s.clients[c] = struct{}{}
		cs = append(cs, c)
	}
	dev, site, grade := "D0", "LL", "A"
	msg := &broadcast{Kind: typeSensorUpdate, DeviceID: &dev, SiteCode: &site, Grade: &grade, Message: make([]byte, 13<<10)}
	for b.Loop() {
		s.broadcastTo(msg)
		for _, c := range cs {
			for {
				if _, ok := c.pop(); !ok {
					break
				}
			}
		}
	}
}
