package localstack

import (
	"net"
	"strconv"
	"testing"
)

// FreePort hands out distinct ports, below the ephemeral range when it can, that a
// server can then bind.
func TestFreePort(t *testing.T) {
	low := ephemeralLow()
	seen := map[int]bool{}
	for range 20 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if low > 10100 && (p < 10000 || p >= low) {
			t.Errorf("port %d outside [10000, %d)", p, low)
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("bind %d: %v", p, err)
		}
		l.Close()
	}
}
