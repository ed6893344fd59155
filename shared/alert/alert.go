// Package alert holds the quality alert rules of the SQAL line (contract §3): which alerts a
// newly stored sample raises, with the exact legacy messages, context and thresholds; and
// the condition language of the user alert rules (condition.go), which reports-api checks
// on write and the alerts step evaluates.
//
// The package is pure (no I/O) so the alerts step, the APIs and tests share one copy of
// the rules.
package alert

import (
	"fmt"
	"strconv"
)

// CloudEvent type and source of the alerts step.
const (
	// TypeRaised is emitted (through the outbox, in the same transaction as the row) for
	// every newly stored alert. Event id = "<sample_id>:<alert_type>"; data = AlertDB.
	TypeRaised = "sqal.alert.raised"
	// Source of events emitted by the alerts step.
	Source = "/sqal/alerts"
	// ExtDevice and ExtSite are CloudEvent extension attributes set on TypeRaised events
	// (the site is not part of AlertDB) so that consumers such as realtime can filter
	// without a lookup, and Knative Triggers can filter on them.
	ExtDevice = "sqaldevice"
	ExtSite   = "sqalsite"
)

// Alert types, in rule order.
const (
	TypeQualityCritical = "quality_critical"
	TypeQualityLow      = "quality_low"
	TypeGradeReject     = "grade_reject"
	TypeOxidationHigh   = "oxidation_high"
	TypeFreshnessLow    = "freshness_low"
)

// Severities (API vocabulary).
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Thresholds of the legacy rules. Every comparison is strict.
const (
	CriticalScore  = 0.40
	LowScore       = 0.60
	HighOxidation  = 0.70
	LowFreshness   = 0.50
	gradeRejectStr = "REJECT"
)

// Sample is what the rules read from a sample, after ingestion's normalisation
// (contract §1.6): the grade is one of A+, A, B, C, REJECT.
type Sample struct {
	FinalScore           float64 // fusion.final_score
	FinalGrade           string  // normalised fusion.final_grade
	IsCompliant          bool    // fusion.is_compliant (sent or derived)
	ToFQualityScore      float64 // vl53l8ch.quality_score (not fusion.tof_score)
	SpectralQualityScore float64 // as7341.quality_score
	OxidationIndex       float64 // as7341.oxidation_index
	FatQualityIndex      float64 // as7341.fat_quality_index
	FreshnessIndex       float64 // as7341.freshness_index
}

// Alert is one alert raised by a rule. Context is stored as sqal_alerts.defect_details and
// returned by the API as data_context; Threshold and Actual are nil for rules without them.
// Title is sqal_alerts.title; empty (the legacy rules) means the alert type.
type Alert struct {
	Type      string
	Severity  string
	Title     string
	Message   string
	Context   map[string]any
	Threshold *float64
	Actual    *float64
}

// Evaluate applies the five legacy rules in order and returns the alerts raised (nil when
// none). Rules 1 and 2 are exclusive; the others are independent.
func Evaluate(s Sample) []Alert {
	var out []Alert
	switch {
	case s.FinalScore < CriticalScore:
		out = append(out, Alert{
			Type:     TypeQualityCritical,
			Severity: SeverityCritical,
			Message:  fmt.Sprintf("Score qualité critique: %s (seuil: 0.40)", f2(s.FinalScore)),
			Context: map[string]any{
				"fusion_score":   s.FinalScore,
				"fusion_grade":   s.FinalGrade,
				"tof_score":      s.ToFQualityScore,
				"spectral_score": s.SpectralQualityScore,
			},
			Threshold: ptr(CriticalScore),
			Actual:    ptr(s.FinalScore),
		})
	case s.FinalScore < LowScore:
		out = append(out, Alert{
			Type:      TypeQualityLow,
			Severity:  SeverityWarning,
			Message:   fmt.Sprintf("Score qualité faible: %s (seuil: 0.60)", f2(s.FinalScore)),
			Context:   map[string]any{"fusion_score": s.FinalScore, "fusion_grade": s.FinalGrade},
			Threshold: ptr(LowScore),
			Actual:    ptr(s.FinalScore),
		})
	}
	if s.FinalGrade == gradeRejectStr {
		out = append(out, Alert{
			Type:     TypeGradeReject,
			Severity: SeverityCritical,
			Message:  "Échantillon REJETÉ - Non conforme qualité",
			Context:  map[string]any{"fusion_score": s.FinalScore, "is_compliant": s.IsCompliant},
		})
	}
	if s.OxidationIndex > HighOxidation {
		out = append(out, Alert{
			Type:      TypeOxidationHigh,
			Severity:  SeverityWarning,
			Message:   fmt.Sprintf("Indice oxydation élevé: %s (seuil: 0.70)", f2(s.OxidationIndex)),
			Context:   map[string]any{"oxidation_index": s.OxidationIndex, "fat_quality_index": s.FatQualityIndex},
			Threshold: ptr(HighOxidation),
			Actual:    ptr(s.OxidationIndex),
		})
	}
	if s.FreshnessIndex < LowFreshness {
		out = append(out, Alert{
			Type:      TypeFreshnessLow,
			Severity:  SeverityWarning,
			Message:   fmt.Sprintf("Indice fraîcheur faible: %s (seuil: 0.50)", f2(s.FreshnessIndex)),
			Context:   map[string]any{"freshness_index": s.FreshnessIndex},
			Threshold: ptr(LowFreshness),
			Actual:    ptr(s.FreshnessIndex),
		})
	}
	return out
}

// EventID is the stable CloudEvent id of the alert of type alertType on sample sampleID:
// a redelivered sample maps to the same id, so downstream consumers dedupe it.
func EventID(sampleID, alertType string) string { return sampleID + ":" + alertType }

// f2 formats like Python's "{x:.2f}": both round the exact binary value correctly, with
// ties (only exact binary halves such as 0.125) going to even.
func f2(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) }

func ptr(f float64) *float64 { return &f }
