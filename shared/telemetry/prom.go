package telemetry

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"context"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// promText serves the metrics of an OpenTelemetry ManualReader, plus the Go runtime
// and process metrics, in the Prometheus text exposition format 0.0.4. It names
// series exactly as go.opentelemetry.io/otel/exporters/prometheus did with
// UnderscoreEscapingWithSuffixes and WithoutScopeInfo (the same otlptranslator
// rules: `_total` on counters, unit suffixes, target_info), without the
// Prometheus client library, whose protobuf data model keeps the Go linker from
// removing unused methods (README, "Binary size").
type promText struct {
	reader *sdkmetric.ManualReader
	namer  otlptranslator.MetricNamer
	labels otlptranslator.LabelNamer
}

func newPromText(reader *sdkmetric.ManualReader) *promText {
	return &promText{
		reader: reader,
		namer:  otlptranslator.NewMetricNamer("", otlptranslator.UnderscoreEscapingWithSuffixes),
		labels: otlptranslator.LabelNamer{},
	}
}

const promContentType = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

// family is one metric name with its series.
type family struct {
	name, help, typ string
	series          []series
}

// series is one label set; samples are the lines it writes (suffix, extra label, value).
type series struct {
	keys, vals []string
	samples    []sample
}

type sample struct {
	suffix   string // "", "_bucket", "_sum", "_count"
	extraKey string // "le" or "quantile"
	extraVal string
	value    float64
}

func (p *promText) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fams := p.gather(r.Context())
	w.Header().Set("Content-Type", promContentType)
	w.Header().Add("Vary", "Accept-Encoding")
	var out io.Writer = w
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		defer zw.Close()
		out = zw
	}
	bw := bufio.NewWriter(out)
	writeFamilies(bw, fams)
	_ = bw.Flush()
}

func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// gather collects the OpenTelemetry metrics and the runtime metrics, merged by
// name and sorted like the Prometheus client library sorts them.
func (p *promText) gather(ctx context.Context) []*family {
	byName := map[string]*family{}
	add := func(f *family) {
		if g, ok := byName[f.name]; ok {
			if g.typ == f.typ {
				g.series = append(g.series, f.series...)
			}
			return
		}
		byName[f.name] = f
	}
	var rm metricdata.ResourceMetrics
	if err := p.reader.Collect(ctx, &rm); err == nil {
		if rm.Resource != nil {
			keys, vals := p.attrs(*rm.Resource.Set())
			add(&family{name: otlptranslator.TargetInfoMetricName, help: "Target metadata", typ: "gauge",
				series: []series{{keys: keys, vals: vals, samples: []sample{{value: 1}}}}})
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if f := p.convert(m); f != nil {
					add(f)
				}
			}
		}
	}
	for _, f := range runtimeFamilies() {
		add(f)
	}
	fams := make([]*family, 0, len(byName))
	for _, f := range byName {
		slices.SortStableFunc(f.series, func(a, b series) int {
			for i := 0; i < len(a.vals) && i < len(b.vals); i++ {
				if c := cmp.Compare(a.keys[i], b.keys[i]); c != 0 {
					return c
				}
				if c := cmp.Compare(a.vals[i], b.vals[i]); c != 0 {
					return c
				}
			}
			return cmp.Compare(len(a.vals), len(b.vals))
		})
		f.series = slices.CompactFunc(f.series, func(a, b series) bool {
			return slices.Equal(a.keys, b.keys) && slices.Equal(a.vals, b.vals)
		})
		fams = append(fams, f)
	}
	slices.SortFunc(fams, func(a, b *family) int { return cmp.Compare(a.name, b.name) })
	return fams
}

// convert maps one OpenTelemetry metric to a family, nil for unsupported kinds
// (exponential histograms are not used here and have no text-format form).
func (p *promText) convert(m metricdata.Metrics) *family {
	var typ string
	var mt otlptranslator.MetricType
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		typ, mt = sumType(d.IsMonotonic)
	case metricdata.Sum[float64]:
		typ, mt = sumType(d.IsMonotonic)
	case metricdata.Gauge[int64], metricdata.Gauge[float64]:
		typ, mt = "gauge", otlptranslator.MetricTypeGauge
	case metricdata.Histogram[int64], metricdata.Histogram[float64]:
		typ, mt = "histogram", otlptranslator.MetricTypeHistogram
	default:
		return nil
	}
	name, err := p.namer.Build(otlptranslator.Metric{Name: m.Name, Unit: m.Unit, Type: mt})
	if err != nil || name == "" {
		return nil
	}
	f := &family{name: name, help: m.Description, typ: typ}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		f.series = numberSeries(p, d.DataPoints)
	case metricdata.Sum[float64]:
		f.series = numberSeries(p, d.DataPoints)
	case metricdata.Gauge[int64]:
		f.series = numberSeries(p, d.DataPoints)
	case metricdata.Gauge[float64]:
		f.series = numberSeries(p, d.DataPoints)
	case metricdata.Histogram[int64]:
		f.series = histogramSeries(p, d.DataPoints)
	case metricdata.Histogram[float64]:
		f.series = histogramSeries(p, d.DataPoints)
	}
	return f
}

func sumType(monotonic bool) (string, otlptranslator.MetricType) {
	if monotonic {
		return "counter", otlptranslator.MetricTypeMonotonicCounter
	}
	return "gauge", otlptranslator.MetricTypeNonMonotonicCounter
}

func numberSeries[N int64 | float64](p *promText, dps []metricdata.DataPoint[N]) []series {
	out := make([]series, 0, len(dps))
	for _, dp := range dps {
		keys, vals := p.attrs(dp.Attributes)
		out = append(out, series{keys: keys, vals: vals, samples: []sample{{value: float64(dp.Value)}}})
	}
	return out
}

func histogramSeries[N int64 | float64](p *promText, dps []metricdata.HistogramDataPoint[N]) []series {
	out := make([]series, 0, len(dps))
	for _, dp := range dps {
		keys, vals := p.attrs(dp.Attributes)
		s := series{keys: keys, vals: vals, samples: make([]sample, 0, len(dp.Bounds)+3)}
		var cum uint64
		for i, bound := range dp.Bounds {
			if i < len(dp.BucketCounts) {
				cum += dp.BucketCounts[i]
			}
			s.samples = append(s.samples, sample{suffix: "_bucket", extraKey: "le", extraVal: formatFloat(bound), value: float64(cum)})
		}
		s.samples = append(s.samples,
			sample{suffix: "_bucket", extraKey: "le", extraVal: "+Inf", value: float64(dp.Count)},
			sample{suffix: "_sum", value: float64(dp.Sum)},
			sample{suffix: "_count", value: float64(dp.Count)})
		out = append(out, s)
	}
	return out
}

// attrs turns attributes into label names and values sorted by name; names that
// collide once escaped get their values sorted and joined with ";" (as the
// OpenTelemetry exporter does).
func (p *promText) attrs(set attribute.Set) (keys, vals []string) {
	byKey := map[string][]string{}
	for it := set.Iter(); it.Next(); {
		kv := it.Attribute()
		k, err := p.labels.Build(string(kv.Key))
		if err != nil {
			continue
		}
		byKey[k] = append(byKey[k], kv.Value.String())
	}
	keys = make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	vals = make([]string, len(keys))
	for i, k := range keys {
		v := byKey[k]
		slices.Sort(v)
		vals[i] = strings.Join(v, ";")
	}
	return keys, vals
}

func writeFamilies(w *bufio.Writer, fams []*family) {
	for _, f := range fams {
		if len(f.series) == 0 {
			continue
		}
		w.WriteString("# HELP ")
		w.WriteString(f.name)
		w.WriteByte(' ')
		writeEscaped(w, f.help, false)
		w.WriteString("\n# TYPE ")
		w.WriteString(f.name)
		w.WriteByte(' ')
		w.WriteString(f.typ)
		w.WriteByte('\n')
		for _, s := range f.series {
			for _, smp := range s.samples {
				w.WriteString(f.name)
				w.WriteString(smp.suffix)
				if len(s.keys) > 0 || smp.extraKey != "" {
					w.WriteByte('{')
					for i, k := range s.keys {
						if i > 0 {
							w.WriteByte(',')
						}
						writeLabel(w, k, s.vals[i])
					}
					if smp.extraKey != "" {
						if len(s.keys) > 0 {
							w.WriteByte(',')
						}
						writeLabel(w, smp.extraKey, smp.extraVal)
					}
					w.WriteByte('}')
				}
				w.WriteByte(' ')
				w.WriteString(formatFloat(smp.value))
				w.WriteByte('\n')
			}
		}
	}
}

func writeLabel(w *bufio.Writer, k, v string) {
	w.WriteString(k)
	w.WriteString(`="`)
	writeEscaped(w, v, true)
	w.WriteByte('"')
}

// writeEscaped escapes a backslash and a newline (HELP text), and a double quote
// too in label values.
func writeEscaped(w *bufio.Writer, s string, quote bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			w.WriteString(`\\`)
		case c == '\n':
			w.WriteString(`\n`)
		case c == '"' && quote:
			w.WriteString(`\"`)
		default:
			w.WriteByte(c)
		}
	}
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
