package predict_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sqalfn/sqal/functions/predict"
	"github.com/sqalfn/sqal/shared/auth"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/ml"
	"github.com/sqalfn/sqal/shared/ml/synth"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/tenant"
	"github.com/sqalfn/sqal/shared/testenv"
)

const (
	orgA = "0a000000-0000-4000-8000-00000000000a"
	orgB = "0b000000-0000-4000-8000-00000000000b"
)

func authConfig() auth.Config {
	return auth.Config{Mode: auth.ModeEnforce, KeycloakURL: "http://127.0.0.1:1", Realm: "sqal_realm",
		ClientID: "sqal-frontend", Leeway: 30 * time.Second, JWKSMinRefresh: time.Minute, JWKSCacheTTL: time.Hour,
		DevIssuer: true, DevIssuerAllowEnforce: true, DevIssuerURL: "http://localhost:8000/api/dev"}
}

func token(t *testing.T, user, org string) string {
	t.Helper()
	dev, err := auth.SharedDevIssuer(authConfig())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := dev.MintFor(user, org, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// orgSamples generates n samples whose sample and device ids start with prefix.
func orgSamples(seed uint64, n int, prefix string) []synth.Sample {
	s := synth.New(seed).Batch(n)
	for i := range s {
		s[i].SampleID = prefix + s[i].SampleID
		s[i].DeviceID = prefix + s[i].DeviceID
	}
	return s
}

// withOrg sets the organizationid extension of a binary-mode event request.
func withOrg(r *http.Request, org string) *http.Request {
	r.Header.Set("ce-"+tenant.EventExtension, org)
	return r
}

// TestTenantIsolationPredict: predict on the application role (row-level security)
// behind the auth middleware in enforce mode, two organisations seeded by the owner.
// An event is handled in its organisation (the prediction and its event are B's for an
// event of B; a sample of another organisation is not found), and the inference API
// reads stored samples in the caller's organisation only.
func TestTenantIsolationPredict(t *testing.T) {
	app, owner := testenv.AppDB(t)
	ctx := context.Background()
	if _, err := owner.Exec(ctx, `INSERT INTO organizations (id, name, type) VALUES ($1, 'Org A', 'enterprise'), ($2, 'Org B', 'enterprise')`, orgA, orgB); err != nil {
		t.Fatal(err)
	}
	a, b := orgSamples(3, 5, "ORGA-"), orgSamples(5, 5, "ORGB-")
	for org, samples := range map[string][]synth.Sample{orgA: a, orgB: b} {
		// COPY needs the owner (row-level security refuses it to the application role).
		if err := synth.InsertIn(ctx, owner, org, samples, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
	}
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := owner.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM sensor_samples WHERE organization_id = $1 AND sample_id LIKE 'ORGB-%'`, orgB); n != len(b) {
		t.Fatalf("%d samples seeded in B", n)
	}
	srv, err := predict.New(ctx, database.NewDB(app), predict.Config{Models: []string{ml.QualityModel}, RefreshInterval: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mw, err := auth.NewMiddleware(ctx, authConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := mw(srv)
	serve := func(r *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	// An event of B about B's sample: the prediction and its event are B's.
	if w := serve(withOrg(binaryEvent(sample.TypeStored, b[0].SampleID, stored(b[0])), orgB)); w.Code != http.StatusAccepted {
		t.Fatalf("event of B: %d %s", w.Code, w.Body)
	}
	if n := count(`SELECT count(*) FROM predictions WHERE sample_id = $1 AND organization_id = $2`, b[0].SampleID, orgB); n != 1 {
		t.Fatal("the prediction of B's sample is not filed under B")
	}
	var evOrg *string
	if err := owner.QueryRow(ctx, `SELECT attributes->>'organizationid' FROM event_outbox WHERE type = $1 AND event_id = $2`,
		ml.TypePredictionCreated, ml.PredictionEventID(b[0].SampleID, ml.QualityModel, "0")).Scan(&evOrg); err != nil {
		t.Fatal(err)
	}
	if evOrg == nil || *evOrg != orgB {
		t.Fatalf("sqal.prediction.created of B's sample names organisation %v, want %s", evOrg, orgB)
	}

	// An event of A (or of no organisation: the default one) naming B's sample finds
	// nothing: refused like an unknown sample, nothing stored.
	for name, r := range map[string]*http.Request{
		"event of A":                 withOrg(binaryEvent(sample.TypeStored, b[1].SampleID, stored(b[1])), orgA),
		"event without organisation": binaryEvent(sample.TypeStored, b[1].SampleID, stored(b[1])),
	} {
		if w := serve(r); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "not found") {
			t.Errorf("%s about B's sample: %d %s", name, w.Code, w.Body)
		}
	}
	if n := count(`SELECT count(*) FROM predictions WHERE sample_id = $1`, b[1].SampleID); n != 0 {
		t.Errorf("%d predictions of B's sample from events of other organisations", n)
	}
	// A malformed organisation is refused, not processed in some organisation.
	if w := serve(withOrg(binaryEvent(sample.TypeStored, b[2].SampleID, stored(b[2])), "not-a-uuid")); w.Code != http.StatusBadRequest {
		t.Errorf("event with a malformed organisation: %d %s", w.Code, w.Body)
	}

	// The inference API reads stored samples in the caller's organisation: B's sample id
	// in A's scope is answered like an unknown one; B itself scores it.
	infer := func(tok, sampleID string) (int, string) {
		body, _ := json.Marshal(map[string]any{"inputs": []map[string]any{
			{"name": "sample_id", "datatype": "BYTES", "shape": []int{1}, "data": []string{sampleID}}}})
		r := httptest.NewRequest("POST", "/v2/models/sqal-quality/infer", strings.NewReader(string(body)))
		r.Header.Set("Authorization", "Bearer "+tok)
		w := serve(r)
		return w.Code, w.Body.String()
	}
	tokA, tokB := token(t, "superviseur", orgA), token(t, "superviseur", orgB)
	unknownCode, unknownBody := infer(tokA, "nope")
	if code, body := infer(tokA, b[3].SampleID); code != unknownCode || code == 200 ||
		body != strings.ReplaceAll(unknownBody, "nope", b[3].SampleID) {
		t.Errorf("B's sample in A's scope: %d %s; an unknown sample: %d %s", code, body, unknownCode, unknownBody)
	}
	if code, body := infer(tokA, a[3].SampleID); code != 200 || !strings.Contains(body, a[3].FinalGrade) {
		t.Errorf("A's sample in A's scope: %d %s", code, body)
	}
	if code, body := infer(tokB, b[3].SampleID); code != 200 || !strings.Contains(body, b[3].FinalGrade) {
		t.Errorf("B's sample in B's scope: %d %s", code, body)
	}
	if n := count(`SELECT count(*) FROM predictions`); n != 1 {
		t.Errorf("%d predictions stored, want only the event's", n)
	}
}
