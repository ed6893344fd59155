package ml

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// Anomaly is the per-device anomaly detector stored with a quality model: for each
// device seen in training, the mean and variance of every standardised feature
// (diagonal Gaussian), shrunk towards the fleet so a device with few samples does not
// get a brittle profile. A sample is anomalous for its device when its Mahalanobis
// distance (diagonal) exceeds the chi-square quantile of Level with one degree of
// freedom per feature: it looks unlike what this station usually measures, which is how
// sensor drift, a dirty window or a new product type first shows up.
type Anomaly struct {
	Level     float64                  `json:"level"`
	Threshold float64                  `json:"threshold"` // on the squared distance
	Fleet     DeviceProfile            `json:"fleet"`
	Devices   map[string]DeviceProfile `json:"devices"`
}

// DeviceProfile is a diagonal Gaussian over standardised features.
type DeviceProfile struct {
	N    int       `json:"n"`
	Mean []float64 `json:"mean"`
	Var  []float64 `json:"var"`
}

// AnomalyResult is the detector's verdict on one sample.
type AnomalyResult struct {
	Distance  float64  `json:"distance"` // squared Mahalanobis distance
	Threshold float64  `json:"threshold"`
	IsAnomaly bool     `json:"is_anomaly"`
	Profile   string   `json:"profile"` // "device" or "fleet" (device unseen in training)
	Drivers   []string `json:"drivers"` // features furthest from the profile, in words
}

// shrinkage is the weight, in samples, of the fleet profile in a device profile.
const shrinkage = 20

// anomalyLevel is the chi-square level of the anomaly threshold.
const anomalyLevel = 0.999

// fitAnomaly builds the detector from standardised training rows (flat, d per row).
func fitAnomaly(z []float64, d int, devices []string) *Anomaly {
	n := len(devices)
	a := &Anomaly{Level: anomalyLevel, Devices: map[string]DeviceProfile{}}
	a.Threshold = distuv.ChiSquared{K: float64(d)}.Quantile(anomalyLevel)
	type acc struct {
		n       int
		sum, sq []float64
	}
	fleet := acc{sum: make([]float64, d), sq: make([]float64, d)}
	per := map[string]*acc{}
	for r := 0; r < n; r++ {
		row := z[r*d : (r+1)*d]
		ac := per[devices[r]]
		if ac == nil {
			ac = &acc{sum: make([]float64, d), sq: make([]float64, d)}
			per[devices[r]] = ac
		}
		ac.n++
		fleet.n++
		for i, v := range row {
			ac.sum[i] += v
			ac.sq[i] += v * v
			fleet.sum[i] += v
			fleet.sq[i] += v * v
		}
	}
	profile := func(ac *acc, prior *DeviceProfile) DeviceProfile {
		p := DeviceProfile{N: ac.n, Mean: make([]float64, d), Var: make([]float64, d)}
		for i := 0; i < d; i++ {
			m := ac.sum[i] / float64(max(ac.n, 1))
			v := ac.sq[i]/float64(max(ac.n, 1)) - m*m
			if prior != nil {
				w := float64(ac.n) / float64(ac.n+shrinkage)
				m = w*m + (1-w)*prior.Mean[i]
				v = w*v + (1-w)*prior.Var[i]
			}
			// A constant feature (variance 0) must not make every other value infinitely
			// anomalous: floor the variance.
			p.Mean[i], p.Var[i] = m, math.Max(v, 1e-3)
		}
		return p
	}
	a.Fleet = profile(&fleet, nil)
	for dev, ac := range per {
		a.Devices[dev] = profile(ac, &a.Fleet)
	}
	// Features are correlated (the diagonal model ignores it), so distances have heavier
	// tails than the chi-square law: calibrate the threshold on the training distances too
	// and keep the larger, so ordinary trays are flagged about 1 - Level of the time.
	dist := make([]float64, n)
	for r := 0; r < n; r++ {
		p := a.Devices[devices[r]]
		for i, v := range z[r*d : (r+1)*d] {
			dv := v - p.Mean[i]
			dist[r] += dv * dv / p.Var[i]
		}
	}
	sort.Float64s(dist)
	if n > 0 {
		a.Threshold = math.Max(a.Threshold, dist[min(n-1, int(calibrationQuantile*float64(n)))])
	}
	return a
}

// calibrationQuantile is the share of training samples kept under the threshold.
const calibrationQuantile = 0.995

func (a *Anomaly) validate(d int) error {
	check := func(p DeviceProfile) error {
		if len(p.Mean) != d || len(p.Var) != d || !allFinite(p.Mean) || !allFinite(p.Var) {
			return fmt.Errorf("anomaly profile does not match %d features", d)
		}
		for _, v := range p.Var {
			if v <= 0 {
				return fmt.Errorf("anomaly profile has a non-positive variance")
			}
		}
		return nil
	}
	if !finite(a.Threshold) || a.Threshold <= 0 {
		return fmt.Errorf("anomaly threshold %v is not positive", a.Threshold)
	}
	if err := check(a.Fleet); err != nil {
		return err
	}
	for _, p := range a.Devices {
		if err := check(p); err != nil {
			return err
		}
	}
	return nil
}

func (a *Anomaly) score(device string, z []float64, names []string) AnomalyResult {
	p, ok := a.Devices[device]
	r := AnomalyResult{Threshold: a.Threshold, Profile: "device"}
	if !ok {
		p, r.Profile = a.Fleet, "fleet"
	}
	terms := make([]float64, len(z))
	for i, v := range z {
		d := v - p.Mean[i]
		terms[i] = d * d / p.Var[i]
		r.Distance += terms[i]
	}
	r.IsAnomaly = r.Distance > a.Threshold
	order := make([]int, len(z))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool { return terms[order[x]] > terms[order[y]] })
	for _, i := range order[:min(3, len(order))] {
		dir := "au-dessus"
		if z[i] < p.Mean[i] {
			dir = "en dessous"
		}
		label := names[i]
		if l, ok := labelOf(names[i]); ok {
			label = l
		}
		r.Drivers = append(r.Drivers, fmt.Sprintf("%s %s de l'habitude (%.1f écarts-types)", label, dir, math.Sqrt(terms[i])))
	}
	return r
}
