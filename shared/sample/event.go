package sample

import (
	"encoding/json"
	"time"
)

// CloudEvent types and source of the ingestion step.
const (
	// TypeStored is emitted (through the outbox, in the same transaction as the row)
	// for every newly stored sample; never for duplicates. Event id = sample_id.
	TypeStored = "sqal.sample.stored"
	// TypeUpload is the CloudEvent type the ingest function accepts as an upload
	// (data = one sensor_data frame, exactly as on /ws/sensors/).
	TypeUpload = "sqal.sample.upload"
	// Source of events emitted by ingest.
	Source = "/sqal/ingest"
)

// StoredEvent is the data of a sqal.sample.stored event: what downstream steps
// (alerts, predict, realtime, traceability) need without reading the row back.
type StoredEvent struct {
	SampleID       string    `json:"sample_id"`
	DeviceID       string    `json:"device_id"`
	OrganizationID *string   `json:"organization_id,omitempty"`
	Timestamp      time.Time `json:"timestamp"`
	SiteCode       *string   `json:"site_code"`
	LotID          *int64    `json:"lot_id"`   // as sent in the frame
	CodeLot        *string   `json:"code_lot"` // as sent; ingest resolves it to lot_id in the row when lots_gavage has it

	FinalScore  float64 `json:"fusion_final_score"`
	FinalGrade  string  `json:"fusion_final_grade"` // normalised: A+, A, B, C, REJECT
	IsCompliant bool    `json:"fusion_is_compliant"`

	ToFQualityScore      float64 `json:"vl53l8ch_quality_score"`
	SpectralQualityScore float64 `json:"as7341_quality_score"`
	FreshnessIndex       float64 `json:"as7341_freshness_index"`
	FatQualityIndex      float64 `json:"as7341_fat_quality_index"`
	OxidationIndex       float64 `json:"as7341_oxidation_index"`

	// The vl53l8ch volume and average height (the sensor_samples columns of the same
	// names), read by user alert rules (volume_mm3, height_mm). Null when the frame has
	// no average height, and absent from events of producers that predate them.
	VolumeMM3   *float64 `json:"vl53l8ch_volume_mm3"`
	AvgHeightMM *float64 `json:"vl53l8ch_avg_height_mm"`

	// SensorUpdate is the exact /ws/realtime/ "sensor_update" message (contract §4.5),
	// built once by ingest so realtime only forwards it.
	SensorUpdate json.RawMessage `json:"sensor_update"`
}
