package predict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/sqalfn/sqal/shared/features"
	"github.com/sqalfn/sqal/shared/ml"
)

// Open Inference Protocol v2 (KServe v2 REST). The quality model takes one input
// tensor "features" of shape [N, F] (FP64, the features of features.Version in the
// order of the model metadata's parameters.feature_names), or "sample_id" of shape [N]
// (BYTES) to score stored samples; an optional "device_id" [N] (BYTES) selects the
// per-device anomaly profile. Outputs: score [N] FP64, grade [N] BYTES, probabilities
// [N,5] FP64 (grades A+, A, B, C, REJECT), anomaly [N] FP64 (squared Mahalanobis
// distance, -1 without a detector) and explanation [N] BYTES (JSON of the additive
// explanation). Inference over this API stores nothing.

const (
	maxInferRows  = 10000
	maxInferBytes = 16 << 20
)

func (s *Server) routesV2() []route {
	return []route{
		{"GET", "/v2", s.serverMetadata},
		{"GET", "/v2/{$}", s.serverMetadata},
		{"GET", "/v2/health/live", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]bool{"live": true})
		}},
		{"GET", "/v2/health/ready", s.serverReady},
		{"GET", "/v2/models/{name}", s.modelMetadata},
		{"GET", "/v2/models/{name}/versions/{version}", s.modelMetadata},
		{"GET", "/v2/models/{name}/ready", s.modelReady},
		{"GET", "/v2/models/{name}/versions/{version}/ready", s.modelReady},
		{"POST", "/v2/models/{name}/infer", s.infer},
		{"POST", "/v2/models/{name}/versions/{version}/infer", s.infer},
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// v2Error is the protocol's error body.
func v2Error(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

func (s *Server) serverMetadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"name": "sqal-predict", "version": features.Version, "extensions": []string{}})
}

func (s *Server) serverReady(w http.ResponseWriter, r *http.Request) {
	for _, name := range s.cfg.Models {
		if served, err := s.svc.Model(r.Context(), name); err != nil || served.Model == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "model": name})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
}

// served returns the model for a request, 404 for an unknown name or a version that is
// not the one served.
func (s *Server) served(w http.ResponseWriter, r *http.Request) (ml.Served, bool) {
	name := r.PathValue("name")
	if !s.models[name] {
		v2Error(w, http.StatusNotFound, "model %q is not served here", name)
		return ml.Served{}, false
	}
	served, err := s.svc.Model(r.Context(), name)
	if err != nil {
		v2Error(w, http.StatusServiceUnavailable, "model %q is not available: %v", name, err)
		return ml.Served{}, false
	}
	if v := r.PathValue("version"); v != "" && v != served.Model.Version {
		v2Error(w, http.StatusNotFound, "model %q version %q is not served (serving %q)", name, v, served.Model.Version)
		return ml.Served{}, false
	}
	return served, true
}

type tensorMeta struct {
	Name     string `json:"name"`
	Datatype string `json:"datatype"`
	Shape    []int  `json:"shape"`
}

func (s *Server) modelMetadata(w http.ResponseWriter, r *http.Request) {
	served, ok := s.served(w, r)
	if !ok {
		return
	}
	m := served.Model
	writeJSON(w, http.StatusOK, map[string]any{
		"name":     m.Name,
		"versions": []string{m.Version},
		"platform": ml.Framework,
		"inputs": []tensorMeta{
			{Name: "features", Datatype: "FP64", Shape: []int{-1, features.Len()}},
			{Name: "sample_id", Datatype: "BYTES", Shape: []int{-1}},
			{Name: "device_id", Datatype: "BYTES", Shape: []int{-1}},
		},
		"outputs": []tensorMeta{
			{Name: "score", Datatype: "FP64", Shape: []int{-1}},
			{Name: "grade", Datatype: "BYTES", Shape: []int{-1}},
			{Name: "probabilities", Datatype: "FP64", Shape: []int{-1, len(ml.Grades)}},
			{Name: "anomaly", Datatype: "FP64", Shape: []int{-1}},
			{Name: "explanation", Datatype: "BYTES", Shape: []int{-1}},
		},
		"parameters": map[string]any{
			"feature_version": features.Version, "feature_names": features.Names,
			"grades": ml.Grades, "model_type": m.Type, "model_features": m.Features,
		},
	})
}

func (s *Server) modelReady(w http.ResponseWriter, r *http.Request) {
	served, ok := s.served(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": served.Model.Name, "ready": true})
}

// InferRequest is the body of POST /v2/models/{name}/infer.
type InferRequest struct {
	ID         string          `json:"id,omitempty"`
	Parameters map[string]any  `json:"parameters,omitempty"`
	Inputs     []InferTensor   `json:"inputs"`
	Outputs    []RequestOutput `json:"outputs,omitempty"`
}

// RequestOutput names a requested output.
type RequestOutput struct {
	Name string `json:"name"`
}

// InferTensor is one input or output tensor.
type InferTensor struct {
	Name       string          `json:"name"`
	Shape      []int           `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters map[string]any  `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data"`
}

// Inputs are the decoded inputs of an inference request.
type Inputs struct {
	Rows      int
	Features  []float64 // Rows x features.Len(), or nil when SampleIDs is set
	SampleIDs []string
	DeviceIDs []string
}

// DecodeInferRequest reads and checks an inference request (outside input: every size
// and type is checked before use).
func DecodeInferRequest(body []byte) (InferRequest, Inputs, error) {
	var req InferRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return req, Inputs{}, fmt.Errorf("decode inference request: %w", err)
	}
	var in Inputs
	for _, t := range req.Inputs {
		n := 1
		for _, d := range t.Shape {
			if d < 0 || d > maxInferRows*features.Len() {
				return req, in, fmt.Errorf("input %q: bad shape %v", t.Name, t.Shape)
			}
			n *= d
			if n > maxInferRows*features.Len() {
				return req, in, fmt.Errorf("input %q: shape %v too large", t.Name, t.Shape)
			}
		}
		switch t.Name {
		case "features":
			if len(t.Shape) != 2 || t.Shape[1] != features.Len() {
				return req, in, fmt.Errorf("input features: shape %v, want [N, %d] (%s)", t.Shape, features.Len(), features.Version)
			}
			vals, err := flattenNumbers(t.Data, n)
			if err != nil {
				return req, in, fmt.Errorf("input features: %w", err)
			}
			in.Features, in.Rows = vals, t.Shape[0]
		case "sample_id", "device_id":
			if len(t.Shape) != 1 {
				return req, in, fmt.Errorf("input %s: shape %v, want [N]", t.Name, t.Shape)
			}
			vals, err := flattenStrings(t.Data, n)
			if err != nil {
				return req, in, fmt.Errorf("input %s: %w", t.Name, err)
			}
			if t.Name == "sample_id" {
				in.SampleIDs = vals
			} else {
				in.DeviceIDs = vals
			}
		default:
			return req, in, fmt.Errorf("unknown input %q (want features, sample_id or device_id)", t.Name)
		}
	}
	switch {
	case in.Features != nil && in.SampleIDs != nil:
		return req, in, errors.New("give either features or sample_id, not both")
	case in.SampleIDs != nil:
		in.Rows = len(in.SampleIDs)
	case in.Features == nil:
		return req, in, errors.New("input features or sample_id is required")
	}
	if in.Rows > maxInferRows {
		return req, in, fmt.Errorf("%d rows, at most %d per request", in.Rows, maxInferRows)
	}
	if in.DeviceIDs != nil && len(in.DeviceIDs) != in.Rows {
		return req, in, fmt.Errorf("device_id has %d values for %d rows", len(in.DeviceIDs), in.Rows)
	}
	return req, in, nil
}

// flattenNumbers accepts the tensor data flat or nested (row-major) and checks its size.
func flattenNumbers(raw json.RawMessage, want int) ([]float64, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	out := make([]float64, 0, want)
	var walk func(any) error
	walk = func(x any) error {
		switch t := x.(type) {
		case float64:
			if len(out) >= want {
				return fmt.Errorf("more than %d values", want)
			}
			out = append(out, t)
		case []any:
			for _, e := range t {
				if err := walk(e); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("data holds a %T, want numbers", x)
		}
		return nil
	}
	if err := walk(v); err != nil {
		return nil, err
	}
	if len(out) != want {
		return nil, fmt.Errorf("%d values for a shape of %d", len(out), want)
	}
	return out, nil
}

func flattenStrings(raw json.RawMessage, want int) ([]string, error) {
	var v []string
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("data: want an array of strings: %w", err)
	}
	if len(v) != want {
		return nil, fmt.Errorf("%d values for a shape of %d", len(v), want)
	}
	return v, nil
}

func (s *Server) infer(w http.ResponseWriter, r *http.Request) {
	served, ok := s.served(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxInferBytes+1))
	if err != nil {
		v2Error(w, http.StatusBadRequest, "read request: %v", err)
		return
	}
	if len(body) > maxInferBytes {
		v2Error(w, http.StatusRequestEntityTooLarge, "request larger than %d bytes", maxInferBytes)
		return
	}
	req, in, err := DecodeInferRequest(body)
	if err != nil {
		v2Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	m := served.Model
	n := in.Rows
	scores := make([]float64, n)
	grades := make([]string, n)
	probs := make([]float64, 0, n*len(ml.Grades))
	anomaly := make([]float64, n)
	expl := make([]string, n)
	loader := features.Loader{Histograms: m.UsesHistogram()}
	for i := 0; i < n; i++ {
		var x []float64
		device := ""
		if in.DeviceIDs != nil {
			device = in.DeviceIDs[i]
		}
		if in.SampleIDs != nil {
			st, err := loader.Load(r.Context(), s.svc.Registry.DB, in.SampleIDs[i])
			if errors.Is(err, features.ErrSampleNotFound) {
				v2Error(w, http.StatusBadRequest, "%v", err)
				return
			}
			if err != nil {
				v2Error(w, http.StatusInternalServerError, "%v", err)
				return
			}
			if x, err = features.Extract(st.Sample); err != nil {
				v2Error(w, http.StatusBadRequest, "%v", err)
				return
			}
			if device == "" {
				device = st.DeviceID
			}
		} else {
			x = in.Features[i*features.Len() : (i+1)*features.Len()]
		}
		p, err := m.Predict(device, x)
		if err != nil {
			v2Error(w, http.StatusBadRequest, "row %d: %v", i, err)
			return
		}
		scores[i], grades[i], anomaly[i] = p.Score, p.Grade, -1
		for _, g := range ml.Grades {
			probs = append(probs, p.Probabilities[g])
		}
		if p.Anomaly != nil {
			anomaly[i] = p.Anomaly.Distance
		}
		b, _ := json.Marshal(p.Explanation)
		expl[i] = string(b)
	}
	outputs := []map[string]any{
		{"name": "score", "datatype": "FP64", "shape": []int{n}, "data": scores},
		{"name": "grade", "datatype": "BYTES", "shape": []int{n}, "data": grades},
		{"name": "probabilities", "datatype": "FP64", "shape": []int{n, len(ml.Grades)}, "data": probs},
		{"name": "anomaly", "datatype": "FP64", "shape": []int{n}, "data": anomaly},
		{"name": "explanation", "datatype": "BYTES", "shape": []int{n}, "data": expl},
	}
	if len(req.Outputs) > 0 {
		want := map[string]bool{}
		for _, o := range req.Outputs {
			want[o.Name] = true
		}
		kept := outputs[:0]
		for _, o := range outputs {
			if want[o["name"].(string)] {
				kept = append(kept, o)
			}
		}
		outputs = kept
	}
	resp := map[string]any{"model_name": m.Name, "model_version": m.Version, "outputs": outputs}
	if req.ID != "" {
		resp["id"] = req.ID
	}
	writeJSON(w, http.StatusOK, resp)
}
