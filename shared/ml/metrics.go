package ml

import (
	"fmt"
	"math"
)

// Metrics is the evaluation of a model on a dataset (stored in ai_models.metrics).
type Metrics struct {
	N        int     `json:"n"`
	Accuracy float64 `json:"accuracy"`
	MacroF1  float64 `json:"macro_f1"`
	// Precision and Recall are macro averages over the grades present in the data.
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	// Confusion[true][predicted], rows and columns in Labels order.
	Labels    []string `json:"labels"`
	Confusion [][]int  `json:"confusion"`
	// Score regression errors against the label score.
	MAE  float64 `json:"mae"`
	RMSE float64 `json:"rmse"`
	// Calibration of the grade probabilities: expected calibration error over 10
	// confidence bins, multi-class Brier score and log loss.
	ECE     float64 `json:"ece"`
	Brier   float64 `json:"brier"`
	LogLoss float64 `json:"log_loss"`
	// AnomalyRate is the share of samples flagged anomalous for their device.
	AnomalyRate float64 `json:"anomaly_rate"`
}

// Evaluate scores m on every sample of d.
func Evaluate(m *Model, d Dataset) (Metrics, error) {
	k := len(Grades)
	mt := Metrics{N: d.Len(), Labels: Grades, Confusion: make([][]int, k)}
	for i := range mt.Confusion {
		mt.Confusion[i] = make([]int, k)
	}
	if d.Len() == 0 {
		return mt, nil
	}
	const bins = 10
	var binN [bins]int
	var binConf, binAcc [bins]float64
	var absErr, sqErr, brier, logLoss float64
	anomalies := 0
	for i := 0; i < d.Len(); i++ {
		p, err := m.Predict(d.Device[i], d.row(i))
		if err != nil {
			return Metrics{}, fmt.Errorf("evaluate sample %s: %w", d.SampleID[i], err)
		}
		truth, pred := d.Grade[i], GradeIndex(p.Grade)
		mt.Confusion[truth][pred]++
		e := p.Score - d.Score[i]
		absErr += math.Abs(e)
		sqErr += e * e
		for c, g := range Grades {
			o := 0.0
			if c == truth {
				o = 1
			}
			brier += (p.Probabilities[g] - o) * (p.Probabilities[g] - o)
		}
		logLoss -= math.Log(math.Max(p.Probabilities[Grades[truth]], 1e-15))
		b := min(int(p.Confidence*bins), bins-1)
		binN[b]++
		binConf[b] += p.Confidence
		if truth == pred {
			binAcc[b]++
		}
		if p.Anomaly != nil && p.Anomaly.IsAnomaly {
			anomalies++
		}
	}
	n := float64(d.Len())
	correct := 0
	var f1, prec, rec float64
	present := 0
	for c := 0; c < k; c++ {
		correct += mt.Confusion[c][c]
		tp := float64(mt.Confusion[c][c])
		var rowSum, colSum float64
		for j := 0; j < k; j++ {
			rowSum += float64(mt.Confusion[c][j])
			colSum += float64(mt.Confusion[j][c])
		}
		if rowSum == 0 && colSum == 0 {
			continue // grade absent from the data and never predicted: not part of the macro average
		}
		present++
		var pc, rc float64
		if colSum > 0 {
			pc = tp / colSum
		}
		if rowSum > 0 {
			rc = tp / rowSum
		}
		prec += pc
		rec += rc
		if pc+rc > 0 {
			f1 += 2 * pc * rc / (pc + rc)
		}
	}
	mt.Accuracy = float64(correct) / n
	if present > 0 {
		mt.MacroF1, mt.Precision, mt.Recall = f1/float64(present), prec/float64(present), rec/float64(present)
	}
	mt.MAE, mt.RMSE = absErr/n, math.Sqrt(sqErr/n)
	mt.Brier, mt.LogLoss = brier/n, logLoss/n
	for b := 0; b < bins; b++ {
		if binN[b] > 0 {
			mt.ECE += math.Abs(binAcc[b]-binConf[b]) / n
		}
	}
	mt.AnomalyRate = float64(anomalies) / n
	return mt, nil
}

// Beats reports whether a candidate's held-out metrics are better than the active
// model's on the same held-out data: higher macro F1 first (every grade counts, REJECT
// included), then accuracy, then lower score MAE. A tie does not promote.
func Beats(candidate, active Metrics) bool {
	const eps = 1e-9
	switch {
	case candidate.MacroF1 > active.MacroF1+eps:
		return true
	case candidate.MacroF1 < active.MacroF1-eps:
		return false
	case candidate.Accuracy > active.Accuracy+eps:
		return true
	case candidate.Accuracy < active.Accuracy-eps:
		return false
	}
	return candidate.MAE < active.MAE-eps
}
