package station

import (
	"math/rand/v2"
	"testing"
	"time"
)

func BenchmarkGenerate(b *testing.B) {
	for _, slim := range []bool{false, true} {
		name := "full"
		if slim {
			name = "slim"
		}
		b.Run(name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			d := NewDevice("LL", 1, 1)
			now := time.Now()
			var n int
			for b.Loop() {
				n += len(d.Generate(rng, Mixed, now, slim).JSON)
			}
			b.SetBytes(int64(n / b.N))
		})
	}
}
