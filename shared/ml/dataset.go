package ml

import (
	"context"
	"fmt"
	"time"

	"github.com/sqalfn/sqal/shared/features"
)

// DatasetInfo describes the data a training run read.
type DatasetInfo struct {
	Total, Skipped   int
	OperatorLabelled int
	From, To         *time.Time
	Grades           map[string]int
}

// LoadDataset reads the labelled samples of a window: features from sensor_samples,
// labels from the operator's verdict (sample_labels) when there is one, else from the
// device's fusion grade and score. Both tables are tenant data: q reads what the scope
// of ctx shows (the train step asks for every organisation, tenant.All).
func LoadDataset(ctx context.Context, q features.Querier, l features.Loader, w features.Window) (Dataset, DatasetInfo, error) {
	type label struct {
		grade string
		score *float64
	}
	labels := map[string]label{}
	rows, err := q.Query(ctx, `SELECT sample_id, grade, score FROM sample_labels`)
	if err != nil {
		return Dataset{}, DatasetInfo{}, fmt.Errorf("read operator labels: %w", err)
	}
	for rows.Next() {
		var id string
		var lb label
		if err := rows.Scan(&id, &lb.grade, &lb.score); err != nil {
			rows.Close()
			return Dataset{}, DatasetInfo{}, fmt.Errorf("read operator labels: %w", err)
		}
		labels[id] = lb
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Dataset{}, DatasetInfo{}, fmt.Errorf("read operator labels: %w", err)
	}

	var d Dataset
	info := DatasetInfo{Grades: map[string]int{}}
	skipped, err := l.Each(ctx, q, w, func(s features.Stored) error {
		x, err := features.Extract(s.Sample)
		if err != nil {
			info.Skipped++
			return nil
		}
		grade, score := s.FinalGrade, s.FinalScore
		if lb, ok := labels[s.SampleID]; ok {
			info.OperatorLabelled++
			grade = lb.grade
			if lb.score != nil {
				score = *lb.score
			}
		}
		if GradeIndex(grade) < 0 {
			info.Skipped++
			return nil
		}
		if err := d.Add(s.SampleID, s.DeviceID, x, grade, score); err != nil {
			return err
		}
		info.Grades[grade]++
		ts := s.Timestamp
		if info.From == nil || ts.Before(*info.From) {
			info.From = &ts
		}
		if info.To == nil || ts.After(*info.To) {
			info.To = &ts
		}
		return nil
	})
	if err != nil {
		return Dataset{}, DatasetInfo{}, err
	}
	info.Skipped += skipped
	info.Total = d.Len()
	return d, info, nil
}
