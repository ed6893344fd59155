package sqalapi

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestRollupMatchesSamples: after inserts (single and multi-row), updates that move a
// sample between hours, devices, grades and organisations, updates of unrelated
// columns, and deletes, sqal_sample_hourly equals the aggregation of sensor_samples it
// summarises.
func TestRollupMatchesSamples(t *testing.T) {
	ctx := context.Background()
	ta := newTestAPI(t, false)
	rng := rand.New(rand.NewPCG(7, 7))
	grades := []string{"A+", "A", "B", "C", "REJECT"}
	base := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	batch := &pgx.Batch{}
	for i := 0; i < 300; i++ {
		var vol, fresh any
		if rng.IntN(4) > 0 {
			vol = float64(rng.IntN(8)) * 0.25
		}
		if rng.IntN(4) > 0 {
			fresh = float64(rng.IntN(4)) * 0.25
		}
		batch.Queue(`INSERT INTO sensor_samples ("timestamp", device_id, sample_id, fusion_final_score, fusion_final_grade,
			vl53l8ch_volume_mm3, as7341_freshness_index) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			base.Add(time.Duration(rng.IntN(6*3600))*time.Second), fmt.Sprintf("D%d", rng.IntN(3)),
			fmt.Sprintf("R%d", i), float64(rng.IntN(4))*0.25, grades[rng.IntN(5)], vol, fresh)
	}
	if err := ta.db.SendBatch(ctx, batch).Close(); err != nil {
		t.Fatal(err)
	}
	ta.exec(`INSERT INTO sensor_samples ("timestamp", device_id, sample_id, fusion_final_score, fusion_final_grade)
		SELECT $1::timestamptz + g * interval '1 minute', 'D9', 'M' || g, 0.5, 'B' FROM generate_series(1, 200) g`, base)
	check := func(step string) {
		t.Helper()
		var diff int
		err := ta.db.QueryRow(ctx, `WITH want AS (
  SELECT date_trunc('hour', "timestamp", 'UTC') AS bucket, device_id, fusion_final_grade AS grade, count(*) AS n,
         count(*) FILTER (WHERE fusion_is_compliant) AS n_compliant, sum(fusion_final_score) AS sum_score,
         COALESCE(sum(vl53l8ch_volume_mm3), 0) AS sum_volume, count(vl53l8ch_volume_mm3) AS n_volume,
         COALESCE(sum(as7341_freshness_index), 0) AS sum_freshness, count(as7341_freshness_index) AS n_freshness,
         organization_id
  FROM sensor_samples GROUP BY 1, 2, 3, organization_id
)
SELECT count(*) FROM (
  (SELECT * FROM want EXCEPT SELECT * FROM sqal_sample_hourly)
  UNION ALL
  (SELECT * FROM sqal_sample_hourly EXCEPT SELECT * FROM want)) d`).Scan(&diff)
		if err != nil {
			t.Fatal(err)
		}
		if diff != 0 {
			t.Fatalf("%s: rollup differs from sensor_samples in %d rows", step, diff)
		}
		err = ta.db.QueryRow(ctx, `WITH want AS (
  SELECT bucket, grade, sum(n)::bigint AS n, sum(n_compliant)::bigint AS n_compliant, sum(sum_score) AS sum_score
  FROM sqal_sample_hourly GROUP BY 1, 2
)
SELECT count(*) FROM (
  (SELECT * FROM want EXCEPT SELECT * FROM sqal_sample_hourly_grade)
  UNION ALL
  (SELECT * FROM sqal_sample_hourly_grade EXCEPT SELECT * FROM want)) d`).Scan(&diff)
		if err != nil {
			t.Fatal(err)
		}
		if diff != 0 {
			t.Fatalf("%s: per-grade rollup differs in %d rows", step, diff)
		}
		err = ta.db.QueryRow(ctx, `WITH want AS (
  SELECT lot_id, fusion_final_grade AS grade, count(*) AS n,
         COALESCE(sum(fusion_final_score), 0) AS a, count(fusion_final_score) AS b,
         COALESCE(sum(vl53l8ch_quality_score), 0) AS c, count(vl53l8ch_quality_score) AS d,
         COALESCE(sum(as7341_quality_score), 0) AS e, count(as7341_quality_score) AS f,
         COALESCE(sum(as7341_freshness_index), 0) AS g, count(as7341_freshness_index) AS h,
         COALESCE(sum(as7341_fat_quality_index), 0) AS i, count(as7341_fat_quality_index) AS j,
         COALESCE(sum(as7341_oxidation_index), 0) AS k, count(as7341_oxidation_index) AS l,
         organization_id
  FROM sensor_samples WHERE lot_id IS NOT NULL GROUP BY 1, 2, organization_id
)
SELECT count(*) FROM (
  (SELECT * FROM want EXCEPT SELECT * FROM sqal_sample_lot)
  UNION ALL
  (SELECT * FROM sqal_sample_lot EXCEPT SELECT * FROM want)) d`).Scan(&diff)
		if err != nil {
			t.Fatal(err)
		}
		if diff != 0 {
			t.Fatalf("%s: per-lot rollup differs in %d rows", step, diff)
		}
	}
	check("inserts")
	ta.exec(`UPDATE sensor_samples SET lot_id = (substr(sample_id, 2)::int % 4) + 1,
		vl53l8ch_quality_score = 0.5, as7341_oxidation_index = CASE WHEN sample_id LIKE '%1' THEN NULL ELSE 0.25 END
		WHERE sample_id LIKE 'R%'`)
	check("lot resolution")
	ta.exec(`UPDATE sensor_samples SET fusion_final_grade = 'REJECT', fusion_is_compliant = false WHERE sample_id LIKE 'R1%'`)
	check("grade update")
	ta.exec(`UPDATE sensor_samples SET "timestamp" = "timestamp" + interval '90 minutes', device_id = 'D7' WHERE sample_id LIKE 'R2%'`)
	check("time and device update")
	ta.exec(`UPDATE sensor_samples SET vl53l8ch_volume_mm3 = NULL, fusion_final_score = 1 WHERE sample_id LIKE 'M1%'`)
	check("value update")
	ta.exec(`UPDATE sensor_samples SET lot_id = 5, blockchain_hash = 'h' WHERE sample_id LIKE 'R3%'`)
	check("unrelated update")
	// Rollup rows are per organisation: the same hour, device, grade and lot in two
	// organisations are two rows, and moving samples moves their counts.
	ta.exec(`INSERT INTO organizations (id, name, type) VALUES ('0b000000-0000-4000-8000-00000000000b', 'Org B', 'enterprise')`)
	ta.exec(`UPDATE sensor_samples SET organization_id = '0b000000-0000-4000-8000-00000000000b' WHERE sample_id LIKE 'R%5' OR sample_id LIKE 'M1%'`)
	check("organisation update")
	ta.exec(`DELETE FROM sensor_samples WHERE sample_id LIKE 'M%' OR sample_id LIKE 'R4%'`)
	check("delete")
	var leftovers int
	if err := ta.db.QueryRow(ctx, `SELECT (SELECT count(*) FROM sqal_sample_hourly WHERE n <= 0 OR device_id = 'D9') + (SELECT count(*) FROM sqal_sample_hourly_grade WHERE n <= 0) + (SELECT count(*) FROM sqal_sample_lot WHERE n <= 0)`).Scan(&leftovers); err != nil || leftovers != 0 {
		t.Fatalf("empty rollup rows left: %d, %v", leftovers, err)
	}
}
