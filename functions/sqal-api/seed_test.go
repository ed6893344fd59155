package sqalapi

// seed writes the known data set every endpoint test reads (times relative to now =
// 2026-11-27 10:30 UTC). Scores are binary fractions so sums and averages are exact.
//
//	sample  device  time              lot  grade   score  notes
//	S5      D-X     11-27 10:29:00    -    A+      0.875  device not registered
//	S1      D-LL    11-27 10:20:00    10   A       0.75   foie-gras metrics, channels
//	S2      D-LL    11-27 08:30:00    10   B       0.625
//	S6      D-LL    11-26 10:30:00    11   A       0.75   exactly now-24h (inside)
//	S7      D-LL    11-26 10:29:59    11   B       0.625  1 s before now-24h (outside)
//	S3      D-MT    11-26 04:30:00    11   REJECT  0.25   not compliant
//	S4      D-MT    11-17 10:30:00    -    C       0.5    10 days ago
func (ta *testAPI) seed() {
	ta.t.Helper()
	ta.exec(`UPDATE sqal_devices SET created_at = '2026-01-01T00:00:00Z', updated_at = '2026-01-01T00:00:00Z'`)
	ta.exec(`INSERT INTO sqal_devices (device_id, device_name, firmware_version, site_code, status, config_profile, created_at, last_seen) VALUES
 ('D-LL', NULL, '1.0.0', 'LL', 'active', 'foiegras_standard_barquette', '2026-11-01T00:00:00Z', '2026-11-27T10:20:00Z'),
 ('D-MT', 'Station MT', NULL, 'MT', 'inactive', NULL, '2026-11-01T00:00:00Z', '2026-11-26T04:30:00Z')`)
	ta.exec(`INSERT INTO lots_gavage (id, code_lot, site_code) VALUES (10, 'LL10', 'LL'), (11, 'MT11', 'MT'), (12, 'LL12', 'LL')`)
	ta.exec(`INSERT INTO sensor_samples ("timestamp", device_id, sample_id, lot_id, fusion_final_grade, fusion_final_score,
 fusion_is_compliant, vl53l8ch_volume_mm3, as7341_freshness_index, vl53l8ch_quality_score, as7341_quality_score,
 poids_foie_estime_g, vl53l8ch_avg_height_mm, vl53l8ch_surface_uniformity, as7341_fat_quality_index,
 as7341_oxidation_index, foie_gras_lobe_thickness_mm, foie_gras_l_star, foie_gras_delta_e, as7341_channels, created_at) VALUES
 ('2026-11-27T10:29:00Z', 'D-X',  'S5', NULL, 'A+', 0.875, NULL, NULL, NULL, 0.5, 0.5, NULL, NULL, NULL, NULL, NULL, 52, 59, 9, NULL, '2026-11-27T10:29:01Z'),
 ('2026-11-27T10:20:00Z', 'D-LL', 'S1', 10, 'A', 0.75, NULL, 1000000, 0.5, 0.25, 1.0, 950, 12.5, 0.75, 0.75, 0.125, 50, 58, 20,
  '{"F1_415nm":1200,"F2_445nm":1500,"F3_480nm":2000,"F4_515nm":2400,"F5_555nm":3100,"F6_590nm":3700,"F7_630nm":4000,"F8_680nm":3200,"Clear":5000,"NIR":800}',
  '2026-11-27T10:20:01Z'),
 ('2026-11-27T08:30:00Z', 'D-LL', 'S2', 10, 'B', 0.625, NULL, 2000000, 0.75, 0.5, 0.75, 900, 11.5, 0.25, 0.5, 0.25, NULL, NULL, NULL, NULL, '2026-11-27T08:30:01Z'),
 ('2026-11-26T10:30:00Z', 'D-LL', 'S6', 11, 'A', 0.75, NULL, 1000000, 1.0, NULL, NULL, 1000, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2026-11-26T10:30:01Z'),
 ('2026-11-26T10:29:59Z', 'D-LL', 'S7', 11, 'B', 0.625, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2026-11-26T10:30:00Z'),
 ('2026-11-26T04:30:00Z', 'D-MT', 'S3', 11, 'REJECT', 0.25, false, 3000000, 0.25, 0.125, 0.375, 800, 10, 0.5, 0.25, 0.875, NULL, NULL, NULL, NULL, '2026-11-26T04:30:01Z'),
 ('2026-11-17T10:30:00Z', 'D-MT', 'S4', NULL, 'C', 0.5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2026-11-17T10:30:01Z')`)
	ta.exec(`INSERT INTO sqal_alerts (alert_id, "time", device_id, sample_id, lot_id, alert_type, severity, title, message, defect_details,
 acknowledged, acknowledged_by, acknowledged_at) OVERRIDING SYSTEM VALUE VALUES
 (1, '2026-11-27T09:30:00Z', 'D-LL', 'S1', 10, 'quality_critical', 'critical', 'quality_critical', 'Score qualité critique: 0.25 (seuil: 0.40)', '{"fusion_score":0.25}', false, NULL, NULL),
 (2, '2026-11-27T08:30:00Z', 'D-MT', 'S3', 11, 'oxidation_high', 'warning', 'oxidation_high', NULL, NULL, true, 'op', '2026-11-27T09:00:00Z'),
 (3, '2026-11-26T09:00:00Z', 'D-MT', 'S3', 11, 'grade_reject', 'critical', 'grade_reject', 'Échantillon REJETÉ - Non conforme qualité', '{"is_compliant":false}', false, NULL, NULL)`)
	ta.exec(`SELECT setval(pg_get_serial_sequence('sqal_alerts', 'alert_id'), 3)`)
}
