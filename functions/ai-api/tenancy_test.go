package aiapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	aiapi "github.com/sqalfn/sqal/functions/ai-api"
	"github.com/sqalfn/sqal/shared/auth"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/ml/synth"
	"github.com/sqalfn/sqal/shared/testenv"
)

const (
	orgA = "0a000000-0000-4000-8000-00000000000a"
	orgB = "0b000000-0000-4000-8000-00000000000b"
)

// tenantEnv is ai-api on the application role (row-level security applies) behind the
// auth middleware in enforce mode, with two organisations seeded by the owner: their
// samples, devices, predictions and labels carry the organisation in their ids (ORGA-,
// ORGB-), so a response leaking B's data shows "ORGB".
type tenantEnv struct {
	t      *testing.T
	owner  *pgxpool.Pool
	h      http.Handler
	a, b   []synth.Sample
	tokens map[string]string
}

func authConfig() auth.Config {
	return auth.Config{Mode: auth.ModeEnforce, KeycloakURL: "http://127.0.0.1:1", Realm: "sqal_realm",
		ClientID: "sqal-frontend", Leeway: 30 * time.Second, JWKSMinRefresh: time.Minute, JWKSCacheTTL: time.Hour,
		DevIssuer: true, DevIssuerAllowEnforce: true, DevIssuerURL: "http://localhost:8000/api/dev"}
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

func setupTenants(t *testing.T) *tenantEnv {
	t.Helper()
	app, owner := testenv.AppDB(t)
	ctx := context.Background()
	e := &tenantEnv{t: t, owner: owner, a: orgSamples(9, 40, "ORGA-"), b: orgSamples(11, 40, "ORGB-"),
		tokens: map[string]string{}}
	e.exec(`INSERT INTO organizations (id, name, type) VALUES ($1, 'Org A', 'enterprise'), ($2, 'Org B', 'enterprise')`, orgA, orgB)
	// COPY needs the owner (row-level security refuses it to the application role).
	for org, samples := range map[string][]synth.Sample{orgA: e.a, orgB: e.b} {
		if err := synth.InsertIn(ctx, owner, org, samples, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		if n := e.count(`SELECT count(*) FROM sensor_samples WHERE organization_id = $1`, org); n != len(samples) {
			t.Fatalf("seeded %d samples in %s, want %d", n, org, len(samples))
		}
	}
	// Predictions (distinctive latencies: the metrics average them) and operator labels.
	for _, p := range []struct {
		s       synth.Sample
		org     string
		latency float64
	}{{e.a[0], orgA, 1}, {e.b[0], orgB, 999}, {e.b[1], orgB, 999}} {
		e.exec(`INSERT INTO predictions (sample_id, device_id, model_name, model_version, score, grade, predicted_class,
				confidence, inference_time_ms, source, organization_id)
			VALUES ($1, $2, 'sqal-quality', 'seed', 0.5, 'B', 'B', 0.9, $3, 'seed', $4)`, p.s.SampleID, p.s.DeviceID, p.latency, p.org)
	}
	e.exec(`INSERT INTO sample_labels (sample_id, grade, labelled_by, organization_id) VALUES ($1, 'C', 'op-a', $2), ($3, 'C', 'op-b', $4)`,
		e.a[1].SampleID, orgA, e.b[1].SampleID, orgB)

	h, err := aiapi.New(database.NewDB(app), aiapi.Config{ModelRefresh: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mw, err := auth.NewMiddleware(ctx, authConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.h = mw(h)
	return e
}

func (e *tenantEnv) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.owner.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

func (e *tenantEnv) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.owner.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// token of a demo user placed in org (superviseur: org_admin, every ai-api permission
// in its organisation; admin: super_admin, every organisation).
func (e *tenantEnv) token(user, org string) string {
	e.t.Helper()
	key := user + "/" + org
	if tok, ok := e.tokens[key]; ok {
		return tok
	}
	dev, err := auth.SharedDevIssuer(authConfig())
	if err != nil {
		e.t.Fatal(err)
	}
	tok, err := dev.MintFor(user, org, time.Minute)
	if err != nil {
		e.t.Fatal(err)
	}
	e.tokens[key] = tok
	return tok
}

func (e *tenantEnv) do(tok, method, path, body string) (int, string) {
	e.t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+tok)
	e.h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func TestTenantIsolationAIAPI(t *testing.T) {
	e := setupTenants(t)
	a, b := e.token("superviseur", orgA), e.token("superviseur", orgB)
	bSample, bLabelled := e.b[0], e.b[1]

	// A training job and a model version: global rows, seen by every organisation.
	code, body := e.do(a, "POST", "/api/ai/training/", `{"model_type":"fusion_ensemble","epochs":3}`)
	if code != 201 {
		t.Fatalf("create training job: %d %s", code, body)
	}
	var job struct{ ID string }
	_ = json.Unmarshal([]byte(body), &job)
	var modelID string
	if err := e.owner.QueryRow(context.Background(), `SELECT id::text FROM ai_models WHERE name = 'sqal-quality' AND version = '0'`).Scan(&modelID); err != nil {
		t.Fatal(err)
	}

	// Every GET in A's scope: 200, nothing of B.
	gets := []string{
		"/api/ai/models/", "/api/ai/models/" + modelID, "/api/ai/training/", "/api/ai/training/" + job.ID,
		"/api/ai/predictions/", "/api/ai/predictions/?limit=500",
		"/api/ai/predictions/?sample_id=" + bSample.SampleID, "/api/ai/predictions/?device_id=" + bSample.DeviceID,
		"/api/ai/metrics/", "/api/ai/datasets/",
	}
	for _, path := range gets {
		code, body := e.do(a, "GET", path, "")
		if code != 200 || strings.Contains(body, "ORGB") {
			t.Errorf("GET %s in A's scope: %d %s", path, code, body)
		}
	}
	// A's own predictions are there, B's are not counted.
	if _, body := e.do(a, "GET", "/api/ai/predictions/", ""); !strings.Contains(body, e.a[0].SampleID) || !strings.Contains(body, `"total":1`) {
		t.Errorf("A's predictions: %s", body)
	}
	if _, body := e.do(a, "GET", "/api/ai/predictions/?sample_id="+bSample.SampleID, ""); !strings.Contains(body, `"total":0`) {
		t.Errorf("B's sample filtered in A's scope: %s", body)
	}
	// The prediction latency of the metrics is A's only (1 ms; B's are 999 ms).
	if _, body := e.do(a, "GET", "/api/ai/metrics/", ""); !strings.Contains(body, `"averageLatency":"1.0ms"`) {
		t.Errorf("A's metrics: %s", body)
	}

	// The same requests in B's scope do see B's data (the assertions above can fail).
	if code, body := e.do(b, "GET", "/api/ai/predictions/?sample_id="+bSample.SampleID, ""); code != 200 || !strings.Contains(body, bSample.SampleID) || strings.Contains(body, "ORGA") {
		t.Errorf("B's predictions in B's scope: %d %s", code, body)
	}
	if _, body := e.do(b, "GET", "/api/ai/metrics/", ""); !strings.Contains(body, `"averageLatency":"999.0ms"`) {
		t.Errorf("B's metrics: %s", body)
	}

	// Mutations on B's samples from A's scope: 404 as an unknown sample, nothing written.
	for _, tc := range []struct{ path, body, detail string }{
		{"/api/ai/predict/", `{"sampleId":"` + bLabelled.SampleID + `"}`, "Sample not found: " + bLabelled.SampleID},
		{"/api/ai/predict/", `{"sample_id":"` + e.b[2].SampleID + `"}`, "Sample not found: " + e.b[2].SampleID},
		{"/api/ai/labels/", `{"sample_id":"` + bLabelled.SampleID + `","grade":"A+","labelled_by":"op-a"}`, "Sample not found: " + bLabelled.SampleID},
		{"/api/ai/labels/", `{"sample_id":"` + e.b[2].SampleID + `","grade":"A+"}`, "Sample not found: " + e.b[2].SampleID},
	} {
		code, body := e.do(a, "POST", tc.path, tc.body)
		if code != 404 || !strings.Contains(body, tc.detail) {
			t.Errorf("POST %s %s in A's scope: %d %s", tc.path, tc.body, code, body)
		}
	}
	if n := e.count(`SELECT count(*) FROM predictions WHERE organization_id = $1`, orgB); n != 2 {
		t.Errorf("%d predictions in B after A's attempts, want the 2 seeded", n)
	}
	if n := e.count(`SELECT count(*) FROM sample_labels WHERE sample_id = $1 AND grade = 'C' AND labelled_by = 'op-b' AND organization_id = $2`,
		bLabelled.SampleID, orgB); n != 1 {
		t.Error("B's label changed by A")
	}
	if n := e.count(`SELECT count(*) FROM sample_labels WHERE sample_id = $1`, e.b[2].SampleID); n != 0 {
		t.Error("A labelled B's sample")
	}

	// In their own scope, each organisation predicts and labels its samples, filed under it.
	if code, body := e.do(a, "POST", "/api/ai/predict/", `{"sampleId":"`+e.a[2].SampleID+`"}`); code != 200 {
		t.Fatalf("A predicts its sample: %d %s", code, body)
	}
	if code, body := e.do(b, "POST", "/api/ai/labels/", `{"sample_id":"`+e.b[2].SampleID+`","grade":"A"}`); code != 201 {
		t.Fatalf("B labels its sample: %d %s", code, body)
	}
	if n := e.count(`SELECT count(*) FROM predictions WHERE sample_id = $1 AND model_version = '0' AND organization_id = $2`, e.a[2].SampleID, orgA); n != 1 {
		t.Error("A's prediction not filed under A")
	}
	if n := e.count(`SELECT count(*) FROM sample_labels WHERE sample_id = $1 AND organization_id = $2`, e.b[2].SampleID, orgB); n != 1 {
		t.Error("B's label not filed under B")
	}

	// A super administrator acts on every organisation: what it writes is filed under the
	// sample's organisation, not the default one.
	admin := e.token("admin", orgA)
	if code, body := e.do(admin, "POST", "/api/ai/predict/", `{"sampleId":"`+e.b[3].SampleID+`"}`); code != 200 {
		t.Fatalf("super_admin predicts B's sample: %d %s", code, body)
	}
	if code, body := e.do(admin, "POST", "/api/ai/labels/", `{"sample_id":"`+e.b[3].SampleID+`","grade":"B"}`); code != 201 {
		t.Fatalf("super_admin labels B's sample: %d %s", code, body)
	}
	if n := e.count(`SELECT count(*) FROM predictions WHERE sample_id = $1 AND organization_id = $2`, e.b[3].SampleID, orgB); n != 1 {
		t.Error("super_admin's prediction of B's sample not filed under B")
	}
	if n := e.count(`SELECT count(*) FROM sample_labels WHERE sample_id = $1 AND organization_id = $2`, e.b[3].SampleID, orgB); n != 1 {
		t.Error("super_admin's label of B's sample not filed under B")
	}
	if code, body := e.do(admin, "GET", "/api/ai/predictions/?limit=500", ""); code != 200 || !strings.Contains(body, "ORGA") || !strings.Contains(body, "ORGB") {
		t.Errorf("super_admin's predictions: %d %s", code, body)
	}
}
