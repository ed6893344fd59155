package datagen

import (
	"math/rand/v2"
	"testing"
	"time"
)

func BenchmarkRow(b *testing.B) {
	g := &gen{rng: rand.New(rand.NewPCG(1, 2)), devices: []string{"ESP32_LL_01", "ESP32_MT_01"},
		o: Options{Lots: 10, FirstLot: 1, Now: time.Now()}, span: 24 * time.Hour}
	for i := 0; b.Loop(); i++ {
		g.row(i)
		g.alerts = g.alerts[:0]
	}
}
