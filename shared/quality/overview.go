package quality

import (
	"time"

	"github.com/sqalfn/sqal/shared/httpapi"
)

// Metrics is the counter part of the dashboard overview: the legacy snake_case keys
// (sqal-contract §6.1) beside the camelCase keys the SQAL dashboard reads (§6.2, and
// backend-new-contract §2.15 "metrics"). Both readers ignore the other's keys.
type Metrics struct {
	Stats24h            Stats24h          `json:"stats_24h"`
	GradeDistribution7d map[string]int64  `json:"grade_distribution_7d"`
	ActiveAlertsLegacy  int64             `json:"active_alerts"`
	CriticalAlerts      int64             `json:"critical_alerts"`
	TotalDevicesLegacy  int64             `json:"total_devices"`
	ActiveDevicesLegacy int64             `json:"active_devices"`
	Timestamp           httpapi.Timestamp `json:"timestamp"`

	TotalSamples          int64            `json:"totalSamples"`
	SamplesToday          int64            `json:"samplesToday"`
	SamplesProcessedToday int64            `json:"samplesProcessedToday"`
	SamplesProcessedWeek  int64            `json:"samplesProcessedWeek"`
	SamplesProcessedMonth int64            `json:"samplesProcessedMonth"`
	SuccessRate           float64          `json:"successRate"`    // 0..100
	AverageQuality        float64          `json:"averageQuality"` // 0..1
	ActiveAlerts          int64            `json:"activeAlerts"`
	ActiveDevices         int64            `json:"activeDevices"`
	TotalDevices          int64            `json:"totalDevices"`
	GradeDistribution     map[string]int64 `json:"gradeDistribution"`
	Trend                 float64          `json:"trend"`  // kept for the former target's readers: always 0
	Period                string           `json:"period"` // always "7days" (the grade distribution window)
}

// Stats24h is the legacy stats_24h object.
type Stats24h struct {
	TotalSamples      int64   `json:"total_samples"`
	AvgQualityScore   float64 `json:"avg_quality_score"`
	ComplianceRatePct float64 `json:"compliance_rate_pct"`
}

// NewMetrics lays the counters out under both key sets, stamped with now.
func NewMetrics(c Counters, now time.Time) Metrics {
	return Metrics{
		Stats24h:            Stats24h{TotalSamples: c.Last24h, AvgQualityScore: c.AvgScore24h, ComplianceRatePct: c.ComplianceRate24h},
		GradeDistribution7d: c.Grades7d,
		ActiveAlertsLegacy:  c.ActiveAlerts,
		CriticalAlerts:      c.CriticalAlerts,
		TotalDevicesLegacy:  c.TotalDevices,
		ActiveDevicesLegacy: c.ActiveDevices,
		Timestamp:           httpapi.Timestamp(now),

		TotalSamples:          c.Total,
		SamplesToday:          c.Today,
		SamplesProcessedToday: c.Today,
		SamplesProcessedWeek:  c.Week,
		SamplesProcessedMonth: c.Month,
		SuccessRate:           c.ComplianceRate24h,
		AverageQuality:        c.AvgScore24h,
		ActiveAlerts:          c.ActiveAlerts,
		ActiveDevices:         c.ActiveDevices,
		TotalDevices:          c.TotalDevices,
		GradeDistribution:     c.Grades7d,
		Trend:                 0,
		Period:                "7days",
	}
}
