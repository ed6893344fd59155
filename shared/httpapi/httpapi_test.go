package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	utc := func(y, mo, d, h, mi, s, ns int) time.Time {
		return time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC)
	}
	tests := []struct {
		in   string
		want time.Time
		err  string
	}{
		{"2026-01-25T10:00:00Z", utc(2026, 1, 25, 10, 0, 0, 0), ""},
		{"2026-01-25T10:00:00.123456Z", utc(2026, 1, 25, 10, 0, 0, 123456000), ""},
		{"2026-01-25T12:00:00+02:00", utc(2026, 1, 25, 10, 0, 0, 0), ""},
		{"2026-01-25T12:00:00 02:00", utc(2026, 1, 25, 10, 0, 0, 0), ""}, // '+' decoded as space
		{"2026-01-25T08:30:00-0130", utc(2026, 1, 25, 10, 0, 0, 0), ""},
		{"2026-01-25T12:00+02", utc(2026, 1, 25, 10, 0, 0, 0), ""},
		{"2026-01-25T10:00:00", utc(2026, 1, 25, 10, 0, 0, 0), ""}, // naive = UTC
		{"2026-01-25 10:00:00.5", utc(2026, 1, 25, 10, 0, 0, 500000000), ""},
		{"2026-01-25t10:00z", utc(2026, 1, 25, 10, 0, 0, 0), ""},
		{"2026-01-25", utc(2026, 1, 25, 0, 0, 0, 0), ""},
		{"1769335200", utc(2026, 1, 25, 10, 0, 0, 0), ""},
		{"1769335200.25", utc(2026, 1, 25, 10, 0, 0, 250000000), ""},
		{"1769335200000", utc(2026, 1, 25, 10, 0, 0, 0), ""}, // milliseconds
		{"0", time.Unix(0, 0).UTC(), ""},
		{"", time.Time{}, "input is too short"},
		{"2026-01", time.Time{}, "input is too short"},
		{"yesterday!", time.Time{}, "invalid character in year"},
		{"2026-13-01", time.Time{}, "month value is outside expected range of 1-12"},
		{"2026-02-30", time.Time{}, "day value is outside expected range"},
		{"2026-01-25X10:00", time.Time{}, "invalid datetime separator, expected `T`, `t`, `_` or space"},
		{"2026-01-25T25:00", time.Time{}, "hour value is outside expected range of 0-23"},
		{"2026-01-25T10:00:00Zjunk", time.Time{}, "unexpected extra characters at the end of the input"},
		{"2026/01/25", time.Time{}, "invalid date separator, expected `-`"},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if tt.err != "" {
			var te *TimeError
			if !errors.As(err, &te) || te.Reason != tt.err {
				t.Errorf("ParseTime(%q) err = %v, want reason %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatTime(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 1, 25, 10, 0, 0, 123456789, time.UTC), "2026-01-25T10:00:00.123456+00:00"},
		{time.Date(2026, 1, 25, 11, 0, 0, 0, paris), "2026-01-25T10:00:00.000000+00:00"},
	}
	for _, tt := range tests {
		if got := FormatTime(tt.in); got != tt.want {
			t.Errorf("FormatTime = %q, want %q", got, tt.want)
		}
	}
	b, _ := json.Marshal(struct {
		A Timestamp  `json:"a"`
		B *Timestamp `json:"b"`
	}{A: Timestamp(tests[0].in)})
	if string(b) != `{"a":"2026-01-25T10:00:00.123456+00:00","b":null}` {
		t.Errorf("marshal = %s", b)
	}
	var ts Timestamp
	if err := json.Unmarshal([]byte(`"2026-01-25T12:00:00+02:00"`), &ts); err != nil || !ts.Time().Equal(time.Date(2026, 1, 25, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("unmarshal = %v %v", ts.Time(), err)
	}
}

// run422 runs a handler that validates parameters and returns the decoded 422 items.
func run422(t *testing.T, pattern, target string, read func(p *ParamSet)) (int, []map[string]any) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		p := Params(r)
		read(p)
		if !p.Check(w) {
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	if rec.Code != http.StatusUnprocessableEntity {
		return rec.Code, nil
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	var body struct {
		Detail []map[string]any `json:"detail"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("422 body %s: %v", rec.Body, err)
	}
	return rec.Code, body.Detail
}

func TestValidation422(t *testing.T) {
	limit := func(p *ParamSet) { p.Query("limit").Int(100, Ge(1), Le(1000)) }
	tests := []struct {
		name    string
		pattern string
		target  string
		read    func(p *ParamSet)
		want    string // JSON of the single expected item; "" = 200
	}{
		{"limit ok", "/x", "/x?limit=10", limit, ""},
		{"limit absent", "/x", "/x", limit, ""},
		{"limit too big", "/x", "/x?limit=5000", limit,
			`{"type":"less_than_equal","loc":["query","limit"],"msg":"Input should be less than or equal to 1000","input":"5000","ctx":{"le":1000}}`},
		{"limit too small", "/x", "/x?limit=0", limit,
			`{"type":"greater_than_equal","loc":["query","limit"],"msg":"Input should be greater than or equal to 1","input":"0","ctx":{"ge":1}}`},
		{"limit not int", "/x", "/x?limit=abc", limit,
			`{"type":"int_parsing","loc":["query","limit"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}`},
		{"limit float", "/x", "/x?limit=1.5", limit,
			`{"type":"int_parsing","loc":["query","limit"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"1.5"}`},
		{"limit huge", "/x", "/x?limit=99999999999999999999999", limit,
			`{"type":"less_than_equal","loc":["query","limit"],"msg":"Input should be less than or equal to 1000","input":"99999999999999999999999","ctx":{"le":1000}}`},
		{"required missing", "/x", "/x", func(p *ParamSet) { p.Query("device_id").RequiredString() },
			`{"type":"missing","loc":["query","device_id"],"msg":"Field required","input":null}`},
		{"path int", "/alerts/{alert_id}", "/alerts/abc", func(p *ParamSet) { p.Path("alert_id").RequiredInt() },
			`{"type":"int_parsing","loc":["path","alert_id"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}`},
		{"bool", "/x", "/x?ack=maybe", func(p *ParamSet) { p.Query("ack").Bool(false) },
			`{"type":"bool_parsing","loc":["query","ack"],"msg":"Input should be a valid boolean, unable to interpret input","input":"maybe"}`},
		{"bool ok", "/x", "/x?ack=YES", func(p *ParamSet) {
			if !p.Query("ack").Bool(false) {
				t.Error("YES not true")
			}
		}, ""},
		{"datetime", "/x", "/x?start_time=garbage", func(p *ParamSet) { p.Query("start_time").OptTime() },
			`{"type":"datetime_from_date_parsing","loc":["query","start_time"],"msg":"Input should be a valid datetime or date, invalid character in year","input":"garbage","ctx":{"error":"invalid character in year"}}`},
		{"enum", "/x", "/x?grade=Z", func(p *ParamSet) { p.Query("grade").OptEnum("A+", "A", "B", "C", "REJECT") },
			`{"type":"enum","loc":["query","grade"],"msg":"Input should be 'A+', 'A', 'B', 'C' or 'REJECT'","input":"Z","ctx":{"expected":"'A+', 'A', 'B', 'C' or 'REJECT'"}}`},
		{"too short", "/x", "/x?q=", func(p *ParamSet) { p.Query("q").String("", MinLen(1)) },
			`{"type":"string_too_short","loc":["query","q"],"msg":"String should have at least 1 character","input":"","ctx":{"min_length":1}}`},
		{"too long", "/x", "/x?q=abcdef", func(p *ParamSet) { p.Query("q").String("", MaxLen(3)) },
			`{"type":"string_too_long","loc":["query","q"],"msg":"String should have at most 3 characters","input":"abcdef","ctx":{"max_length":3}}`},
		{"float bound", "/x", "/x?s=1.5", func(p *ParamSet) { p.Query("s").Float(0, Le(0.5)) },
			`{"type":"less_than_equal","loc":["query","s"],"msg":"Input should be less than or equal to 0.5","input":"1.5","ctx":{"le":0.5}}`},
		{"last value wins", "/x", "/x?limit=5000&limit=5", limit, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, items := run422(t, tt.pattern, tt.target, tt.read)
			if tt.want == "" {
				if code != http.StatusOK {
					t.Fatalf("code %d, items %v", code, items)
				}
				return
			}
			if len(items) != 1 {
				t.Fatalf("code %d items %v", code, items)
			}
			var want map[string]any
			_ = json.Unmarshal([]byte(tt.want), &want)
			gotJSON, _ := json.Marshal(items[0])
			wantJSON, _ := json.Marshal(want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("item\n got %s\nwant %s", gotJSON, wantJSON)
			}
		})
	}
	// Several errors are reported together, in reading order.
	_, items := run422(t, "/x", "/x?limit=0&grade=Z", func(p *ParamSet) {
		p.Query("limit").Int(1, Ge(1))
		p.Query("grade").Enum("A", "A", "B")
		p.Query("device").RequiredString()
	})
	if len(items) != 3 || items[0]["type"] != "greater_than_equal" || items[1]["type"] != "enum" || items[2]["type"] != "missing" {
		t.Errorf("items %v", items)
	}
}

func TestDecodeJSON(t *testing.T) {
	type body struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	tests := []struct {
		body     string
		wantType string
		wantLoc  string
	}{
		{`{"name":"a","count":1}`, "", ""},
		{``, "missing", `["body"]`},
		{`{"name":`, "json_invalid", `["body",8]`},
		{`{"count":"x"}`, "int_type", `["body","count"]`},
	}
	for _, tt := range tests {
		var b body
		err := DecodeJSON(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body)), &b)
		if tt.wantType == "" {
			if err != nil {
				t.Errorf("%q: %v", tt.body, err)
			}
			continue
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Items) != 1 || ve.Items[0].Type != tt.wantType {
			t.Errorf("%q: err %v", tt.body, err)
			continue
		}
		loc, _ := json.Marshal(ve.Items[0].Loc)
		if string(loc) != tt.wantLoc {
			t.Errorf("%q: loc %s want %s", tt.body, loc, tt.wantLoc)
		}
	}
	// Body over the limit -> 413.
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"name":"`+strings.Repeat("a", 100)+`"}`))
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 10)
	var b body
	rec := httptest.NewRecorder()
	Fail(rec, r, DecodeJSON(r, &b))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", rec.Code)
	}
}

func TestRouter(t *testing.T) {
	tests := []struct {
		name     string
		policy   SlashPolicy
		method   string
		target   string
		wantCode int
		wantBody string
		wantHdr  [2]string
	}{
		{"match", SlashRedirect, "GET", "/api/sqal/devices", 200, "list", [2]string{}},
		{"path param", SlashRedirect, "GET", "/api/sqal/devices/D1", 200, "device D1", [2]string{}},
		{"unknown", SlashRedirect, "GET", "/api/nope", 404, `{"detail":"Not Found"}`, [2]string{}},
		{"wrong method", SlashRedirect, "DELETE", "/api/sqal/devices", 405, `{"detail":"Method Not Allowed"}`, [2]string{"Allow", "GET, HEAD, POST"}},
		{"slash redirect", SlashRedirect, "GET", "/api/sqal/devices/?limit=5", 307, "", [2]string{"Location", "/api/sqal/devices?limit=5"}},
		{"slash redirect to slash", SlashRedirect, "GET", "/api/ai/models", 307, "", [2]string{"Location", "/api/ai/models/"}},
		{"slash serve", SlashServe, "GET", "/api/sqal/devices/", 200, "list", [2]string{}},
		{"slash strict", SlashStrict, "GET", "/api/sqal/devices/", 404, `{"detail":"Not Found"}`, [2]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := NewRouter()
			rt.Slash = tt.policy
			rt.HandleFunc("GET /api/sqal/devices", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("list")) })
			rt.HandleFunc("POST /api/sqal/devices", func(w http.ResponseWriter, r *http.Request) {})
			rt.HandleFunc("GET /api/sqal/devices/{id}", func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte("device " + r.PathValue("id")))
			})
			rt.HandleFunc("GET /api/ai/models/", func(w http.ResponseWriter, r *http.Request) {})
			ctx, route := WithRouteSlot(t.Context())
			rec := httptest.NewRecorder()
			rt.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil).WithContext(ctx))
			if rec.Code != tt.wantCode || (tt.wantBody != "" && rec.Body.String() != tt.wantBody) {
				t.Fatalf("got %d %q, want %d %q", rec.Code, rec.Body, tt.wantCode, tt.wantBody)
			}
			if tt.wantHdr[0] != "" && rec.Header().Get(tt.wantHdr[0]) != tt.wantHdr[1] {
				t.Errorf("%s = %q, want %q", tt.wantHdr[0], rec.Header().Get(tt.wantHdr[0]), tt.wantHdr[1])
			}
			if rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("error content type %q", rec.Header().Get("Content-Type"))
			}
			if tt.name == "path param" && route() != "GET /api/sqal/devices/{id}" {
				t.Errorf("route recorded %q", route())
			}
		})
	}
}

func TestErrorShapes(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	tests := []struct {
		name     string
		write    func(w http.ResponseWriter)
		wantCode int
		wantCT   string
		wantBody string
	}{
		{"detail", func(w http.ResponseWriter) { Detail(w, 404, "Model not found") }, 404, "application/json", `{"detail":"Model not found"}`},
		{"status error", func(w http.ResponseWriter) { Fail(w, r, Errorf(503, "Database unavailable")) }, 503, "application/json", `{"detail":"Database unavailable"}`},
		{"other error", func(w http.ResponseWriter) { Fail(w, r, errors.New("pq: secret")) }, 500, "application/json", `{"detail":"Internal Server Error"}`},
		{"problem", func(w http.ResponseWriter) { ProblemDetail(w, 404, "no such model") }, 404, "application/problem+json",
			`{"type":"about:blank","title":"Not Found","status":404,"detail":"no such model"}`},
		{"problem validation", func(w http.ResponseWriter) {
			FailProblem(w, r, &ValidationError{Items: []ErrorItem{Missing("body", "name")}})
		}, 422, "application/problem+json",
			`{"type":"about:blank","title":"Unprocessable Entity","status":422,"detail":"Request validation failed","errors":[{"type":"missing","loc":["body","name"],"msg":"Field required","input":null}]}`},
		{"method not allowed", func(w http.ResponseWriter) { MethodNotAllowed(w, "GET", "POST") }, 405, "application/json", `{"detail":"Method Not Allowed"}`},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		tt.write(rec)
		if rec.Code != tt.wantCode || rec.Header().Get("Content-Type") != tt.wantCT || rec.Body.String() != tt.wantBody {
			t.Errorf("%s: got %d %q %s", tt.name, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-01-25T10:00:00Z", "2026-01-25T12:00:00.123+02:00", "2026-01-25", "1769335200.5", "2026-01-25 10:00 0200", "-1", "9e99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s)
		if err != nil {
			var te *TimeError
			if !errors.As(err, &te) || te.Reason == "" {
				t.Fatalf("error without reason: %v", err)
			}
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("not UTC: %v", got)
		}
		// Whatever we accept must round-trip through the outbound format.
		back, err := ParseTime(FormatTime(got))
		if err != nil || !back.Equal(got.Truncate(time.Microsecond)) {
			t.Fatalf("round trip of %q: %v -> %v (%v)", s, got, back, err)
		}
	})
}

func FuzzParseInt(f *testing.F) {
	for _, s := range []string{"0", "-12", "+7", " 42 ", "1.5", "99999999999999999999", "", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, fv, ok := ParseInt(s)
		if !ok {
			return
		}
		if fv != float64(v) && fv < 1e18 && fv > -1e18 {
			t.Fatalf("ParseInt(%q) = %d, %v disagree", s, v, fv)
		}
	})
}

func BenchmarkParseTime(b *testing.B) {
	for b.Loop() {
		if _, err := ParseTime("2026-01-25T12:00:00.123456+02:00"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParams(b *testing.B) {
	r := httptest.NewRequest("GET", "/x?limit=100&start_time=2026-01-25T10:00:00Z&grade=A", nil)
	for b.Loop() {
		p := Params(r)
		p.Query("limit").Int(100, Ge(1), Le(1000))
		p.Query("start_time").OptTime()
		p.Query("grade").OptEnum("A+", "A", "B", "C", "REJECT")
		if p.Err() != nil {
			b.Fatal(p.Err())
		}
	}
}
