package realtime

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

func TestDecodeClientFrame(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		wantErr bool
		object  bool
		typ     string
		filters string
	}{
		{"heartbeat", `{"type":"heartbeat"}`, false, true, "heartbeat", ""},
		{"subscribe with filters", `{"type":"subscribe","filters":{"device_id":"X"}}`, false, true, "subscribe", `{"device_id":"X"}`},
		{"subscribe null filters", `{"type":"subscribe","filters":null}`, false, true, "subscribe", `null`},
		{"whitespace", " \n{\"type\":\"unsubscribe\"} ", false, true, "unsubscribe", ""},
		{"non-string type", `{"type":5}`, false, true, "", ""},
		{"no type", `{}`, false, true, "", ""},
		{"array", `[1,2]`, false, false, "", ""},
		{"string", `"heartbeat"`, false, false, "", ""},
		{"number", `42`, false, false, "", ""},
		{"null", `null`, false, false, "", ""},
		{"not JSON", `heartbeat`, true, false, "", ""},
		{"truncated", `{"type":"heartbeat"`, true, false, "", ""},
		{"empty", ``, true, false, "", ""},
		{"two values", `{} {}`, true, false, "", ""},
		{"NaN", `{"type":NaN}`, true, false, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := decodeClientFrame([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if f.Object != tc.object || f.Type != tc.typ || string(f.Filters) != tc.filters {
				t.Fatalf("got %+v (filters %s), want object=%v type=%q filters=%s", f, f.Filters, tc.object, tc.typ, tc.filters)
			}
		})
	}
}

func FuzzDecodeClientFrame(f *testing.F) {
	for _, s := range []string{`{"type":"heartbeat"}`, `{"type":"subscribe","filters":{"device_id":null,"min_grade":"B"}}`,
		`[]`, `null`, `{"type":`, "\xff", `{"filters":[1]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeClientFrame(b)
		if err != nil {
			if json.Valid(b) {
				t.Fatalf("valid JSON %q rejected: %v", b, err)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("invalid JSON %q accepted", b)
		}
		if fr.Filters != nil && !json.Valid(fr.Filters) {
			t.Fatalf("filters %q not JSON", fr.Filters)
		}
		// Filters of any shape must be usable without panicking.
		fl := parseFilters(fr.Filters)
		dev, site, grade := "D", "LL", "A"
		fl.allows(&broadcast{Kind: typeSensorUpdate, DeviceID: &dev, SiteCode: &site, Grade: &grade})
		fl.allows(&broadcast{Kind: typeAlert})
	})
}

func TestFilters(t *testing.T) {
	s := func(v string) *string { return &v }
	sampleLL := &broadcast{Kind: typeSensorUpdate, DeviceID: s("ESP32_DEMO_LL_01"), SiteCode: s("LL"), Grade: s("B")}
	noSite := &broadcast{Kind: typeSensorUpdate, DeviceID: s("ESP32_DEMO_01"), Grade: s("A+")}
	unknownGrade := &broadcast{Kind: typeSensorUpdate, DeviceID: s("ESP32_DEMO_LL_01"), SiteCode: s("LL"), Grade: s("D")}
	alertLL := &broadcast{Kind: typeAlert, DeviceID: s("ESP32_DEMO_LL_01"), SiteCode: s("LL")}
	alertNoSite := &broadcast{Kind: typeAlert, DeviceID: s("ESP32_DEMO_LL_01")}
	gavage := &broadcast{Kind: typeGavageRealtime}
	other := &broadcast{Kind: "something_else"}

	cases := []struct {
		name    string
		filters string
		msg     *broadcast
		want    bool
	}{
		{"no filters", ``, sampleLL, true},
		{"empty object", `{}`, sampleLL, true},
		{"non-object filters mean none", `[1]`, sampleLL, true},
		{"device equal", `{"device_id":"ESP32_DEMO_LL_01"}`, sampleLL, true},
		{"device different", `{"device_id":"ESP32_DEMO_MT_01"}`, sampleLL, false},
		{"device null is tested", `{"device_id":null}`, sampleLL, false},
		{"device number never equal", `{"device_id":1}`, sampleLL, false},
		{"device case-sensitive", `{"device_id":"esp32_demo_ll_01"}`, sampleLL, false},
		{"site equal", `{"site_code":"LL"}`, sampleLL, true},
		{"site different", `{"site_code":"MT"}`, sampleLL, false},
		{"site null is tested", `{"site_code":null}`, sampleLL, false},
		{"no site never equal", `{"site_code":"LL"}`, noSite, false},
		{"no site vs null", `{"site_code":null}`, noSite, false},
		{"min_grade equal rank", `{"min_grade":"B"}`, sampleLL, true},
		{"min_grade lower", `{"min_grade":"C"}`, sampleLL, true},
		{"min_grade REJECT lets all known", `{"min_grade":"REJECT"}`, sampleLL, true},
		{"min_grade higher", `{"min_grade":"A"}`, sampleLL, false},
		{"min_grade A+ vs A+", `{"min_grade":"A+"}`, noSite, true},
		{"min_grade unknown lets all", `{"min_grade":"Z"}`, unknownGrade, true},
		{"min_grade null lets all", `{"min_grade":null}`, unknownGrade, true},
		{"min_grade lowercase is unknown", `{"min_grade":"a+"}`, sampleLL, true},
		{"unknown sample grade ranks 0", `{"min_grade":"REJECT"}`, unknownGrade, false},
		{"data_type has no effect on samples", `{"data_type":"sqal_only"}`, sampleLL, true},
		{"all keys match", `{"device_id":"ESP32_DEMO_LL_01","site_code":"LL","min_grade":"C"}`, sampleLL, true},
		{"one key fails", `{"device_id":"ESP32_DEMO_LL_01","site_code":"LL","min_grade":"A"}`, sampleLL, false},
		{"alert device filter", `{"device_id":"ESP32_DEMO_MT_01"}`, alertLL, false},
		{"alert site filter", `{"site_code":"LL"}`, alertLL, true},
		{"alert without site", `{"site_code":"LL"}`, alertNoSite, false},
		{"min_grade ignored for alerts", `{"min_grade":"A+"}`, alertLL, true},
		{"sqal_only suppresses gavage", `{"data_type":"sqal_only"}`, gavage, false},
		{"other data_type keeps gavage", `{"data_type":"all"}`, gavage, true},
		{"device filter ignores gavage", `{"device_id":"X"}`, gavage, true},
		{"unknown kinds pass", `{"device_id":"X"}`, other, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var raw json.RawMessage
			if tc.filters != "" {
				raw = json.RawMessage(tc.filters)
			}
			if got := parseFilters(raw).allows(tc.msg); got != tc.want {
				t.Fatalf("allows = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStamp(t *testing.T) {
	// Server timestamps are UTC with microseconds and an explicit +00:00 (contract §0.1).
	got := stamp(mustTime("2026-11-27T09:55:49.401234+02:00"))
	if got != "2026-11-27T07:55:49.401234+00:00" {
		t.Fatalf("stamp = %s", got)
	}
}

func FuzzEventToBroadcast(f *testing.F) {
	f.Add("sqal.sample.stored", []byte(`{"sample_id":"S","device_id":"D","site_code":"LL","fusion_final_grade":"A","sensor_update":{"type":"sensor_update"}}`))
	f.Add("sqal.alert.raised", []byte(`{"time":"2026-11-27T07:56:44Z","alert_id":1,"device_id":"D","sample_id":"S","alert_type":"grade_reject","severity":"critical","message":"m","data_context":{"a":1}}`))
	f.Add("sqal.prediction.created", []byte(`{"sample_id":"S","model_name":"m","model_version":"1","score":0.5,"grade":"B","explanations":{}}`))
	f.Add("sqal.sample.stored", []byte(`{"sensor_update":null}`))
	f.Add("sqal.alert.raised", []byte(`{"time":12}`))
	m, _ := newMetrics(nil, nil)
	s := &Server{metrics: m, now: time.Now}
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		e := cloudevents.NewEvent()
		e.SetID("x")
		e.SetSource("/x")
		e.SetType(typ)
		_ = e.SetData(cloudevents.ApplicationJSON, data)
		b, err := s.toBroadcast(e)
		if err != nil {
			return
		}
		if !json.Valid(b.Message) {
			t.Fatalf("%s: message %q is not JSON", typ, b.Message)
		}
		p, err := encodeBroadcast(b)
		if err != nil {
			t.Fatalf("broadcast does not encode: %v", err)
		}
		got, err := decodeBroadcast(p)
		if err != nil {
			t.Fatalf("channel message %q does not decode: %v", p, err)
		}
		if !bytes.Equal(got.Message, b.Message) || got.ID != b.ID || got.Kind != b.Kind || got.Organization != b.Organization {
			t.Fatalf("round trip: got %+v, want %+v", got, b)
		}
	})
}

// The channel carries encodeBroadcast's form; the one-object JSON of earlier instances
// still decodes; anything else is refused.
func TestDecodeBroadcast(t *testing.T) {
	dev := "D1"
	b := &broadcast{ID: "/sqal/ingest S1", Kind: typeSensorUpdate, DeviceID: &dev, Organization: "o", Message: json.RawMessage(`{"type":"sensor_update","a":"x\ny"}`)}
	p, err := encodeBroadcast(b)
	if err != nil {
		t.Fatal(err)
	}
	old, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][]byte{p, old} {
		got, err := decodeBroadcast(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if got.ID != b.ID || got.Kind != b.Kind || *got.DeviceID != dev || got.Organization != "o" || string(got.Message) != string(b.Message) {
			t.Errorf("%s: got %+v", p, got)
		}
	}
	for _, bad := range []string{``, `{"id":"x"}`, `{"id":"x"}` + "\n", `{"id":"x"}` + "\n[1]", `not json` + "\n{}", `{"id":"x","message":"m"}`} {
		if _, err := decodeBroadcast([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

func FuzzDecodeBroadcast(f *testing.F) {
	f.Add([]byte(`{"id":"/x 1","kind":"sensor_update","organization_id":"o"}` + "\n" + `{"type":"sensor_update"}`))
	f.Add([]byte(`{"id":"/x 1","kind":"alert","message":{"type":"alert"}}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := decodeBroadcast(p)
		if err != nil {
			return
		}
		if m := bytes.TrimSpace(b.Message); len(m) == 0 || m[0] != '{' {
			t.Fatalf("%q: message %q accepted", p, b.Message)
		}
	})
}
