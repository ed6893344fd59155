package datagen

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/testenv"
)

func BenchmarkRow(b *testing.B) {
	g := &gen{rng: rand.New(rand.NewPCG(1, 2)), devices: []string{"ESP32_LL_01", "ESP32_MT_01"},
		o: Options{Lots: 10, FirstLot: 1, Now: time.Now()}, span: 24 * time.Hour}
	for i := 0; b.Loop(); i++ {
		g.row(i)
		g.alerts = g.alerts[:0]
	}
}

func TestGenerate(t *testing.T) {
	ctx := context.Background()
	db := testenv.DB(t)
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	st, err := Generate(ctx, db, Options{Samples: 2000, Days: 3, DevicesPerSite: 2, Lots: 5, FirstLot: 100,
		Seed: 3, Batch: 700, Now: now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Samples != 2000 || st.Devices != 6 || st.Lots != 5 || st.Alerts == 0 {
		t.Fatalf("stats %+v", st)
	}
	var n, rolled, devices, badAlerts int64
	var first, last time.Time
	if err := db.QueryRow(ctx, `SELECT count(*), min("timestamp"), max("timestamp"),
		(SELECT sum(n) FROM sqal_sample_hourly), (SELECT count(DISTINCT device_id) FROM sensor_samples),
		(SELECT count(*) FROM sqal_alerts a JOIN sensor_samples s USING (sample_id)
		 WHERE a.alert_type = 'quality_critical' AND s.fusion_final_score >= 0.4)
		FROM sensor_samples`).Scan(&n, &first, &last, &rolled, &devices, &badAlerts); err != nil {
		t.Fatal(err)
	}
	if n != 2000 || rolled != 2000 || devices != 6 || badAlerts != 0 {
		t.Fatalf("samples %d, rolled up %d, devices %d, wrong critical alerts %d", n, rolled, devices, badAlerts)
	}
	if first.Before(now.Add(-72*time.Hour)) || last.After(now) {
		t.Fatalf("samples from %s to %s, want within the 3 days before %s", first, last, now)
	}
	// Same seed, same data: a second run into a truncated database gives the same rows.
	var sum1, sum2 float64
	_ = db.QueryRow(ctx, `SELECT sum(fusion_final_score) FROM sensor_samples`).Scan(&sum1)
	if _, err := Generate(ctx, db, Options{Samples: 2000, Days: 3, DevicesPerSite: 2, Lots: 5, FirstLot: 100,
		Seed: 3, Batch: 2000, Now: now, Truncate: true}, nil); err != nil {
		t.Fatal(err)
	}
	_ = db.QueryRow(ctx, `SELECT sum(fusion_final_score) FROM sensor_samples`).Scan(&sum2)
	if sum1 != sum2 {
		t.Fatalf("not deterministic: %v vs %v", sum1, sum2)
	}
}
