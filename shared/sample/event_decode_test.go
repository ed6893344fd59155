package sample

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/sqalfn/sqal/shared/sample/fixtures"
)

// storedEventJSON is the event data ingest writes for a fixture frame.
func storedEventJSON(t testing.TB, fixture string) []byte {
	t.Helper()
	return eventOf(t, mustSample(t, fixtures.Load(t, fixture)))
}

// eventOf is the sqal.sample.stored event data of s, as ingest writes it.
func eventOf(t testing.TB, s *Sample) []byte {
	t.Helper()
	u, err := s.UpdateJSON()
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.EventJSON(u)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// sameAsStd checks DecodeStoredEvent against json.Unmarshal on data: both succeed
// with the same fields (sensor_update compared compacted), or both fail.
func sameAsStd(t *testing.T, data []byte) {
	t.Helper()
	var want StoredEvent
	werr := json.Unmarshal(data, &want)
	got, gerr := DecodeStoredEvent(data)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("encoding/json: %v, DecodeStoredEvent: %v\n%.300s", werr, gerr, data)
	}
	if werr != nil {
		return
	}
	if len(want.SensorUpdate) > 0 {
		var c bytes.Buffer
		if err := json.Compact(&c, want.SensorUpdate); err != nil {
			t.Fatal(err)
		}
		want.SensorUpdate = c.Bytes()
	}
	if len(got.SensorUpdate) == 0 {
		got.SensorUpdate = nil
	}
	if len(want.SensorUpdate) == 0 {
		want.SensorUpdate = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeStoredEvent:\n got %+v\nwant %+v", got, want)
	}
}

func TestDecodeStoredEventAsEncodingJSON(t *testing.T) {
	for _, f := range []string{fixtures.Sample1, fixtures.Sample2, fixtures.Minimal} {
		t.Run(f, func(t *testing.T) {
			data := storedEventJSON(t, f)
			sameAsStd(t, data)
			got, err := DecodeStoredEvent(data)
			if err != nil || got.SampleID == "" || got.DeviceID == "" || len(got.SensorUpdate) < 100 || got.Timestamp.IsZero() {
				t.Errorf("decoded %+v, %v", got, err)
			}
		})
	}
	for _, data := range []string{
		`{}`,
		`{"sample_id":"S","device_id":null,"site_code":null,"lot_id":7,"vl53l8ch_volume_mm3":12.5,"unknown":[1,{"a":2}]}`,
		`{"sample_id":"S\u00e9","organization_id":"o","code_lot":"LL","fusion_is_compliant":true,"timestamp":"2026-11-27T07:55:53.912+01:00","sensor_update":{"type":"sensor_update","x":[1.50,2e3]}}`,
		`{"sample_id":"a","sample_id":"b"}`,
	} {
		sameAsStd(t, []byte(data))
	}
}

// A member of the wrong type is an error that names it, as is a broken document.
func TestDecodeStoredEventErrors(t *testing.T) {
	for data, field := range map[string]string{
		`{"sample_id":5}`:                 "sample_id",
		`{"lot_id":1.5}`:                  "lot_id",
		`{"fusion_final_score":"high"}`:   "fusion_final_score",
		`{"fusion_is_compliant":"yes"}`:   "fusion_is_compliant",
		`{"timestamp":"yesterday"}`:       "timestamp",
		`{"vl53l8ch_avg_height_mm":true}`: "vl53l8ch_avg_height_mm",
		`{"sample_id":"S"`:                "stored event",
		`[]`:                              "stored event",
	} {
		if _, err := DecodeStoredEvent([]byte(data)); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: error %v, want one naming %s", data, err, field)
		}
	}
}

func FuzzDecodeStoredEvent(f *testing.F) {
	f.Add(storedEventJSON(f, fixtures.Minimal))
	f.Add([]byte(`{"sample_id":"S","lot_id":7,"timestamp":"2026-11-27T07:55:53Z","sensor_update":{"a":[1,2]}}`))
	f.Add([]byte(`{"vl53l8ch_volume_mm3":null,"fusion_final_score":0.5}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeStoredEvent(data)
		if err != nil {
			return
		}
		// What it decodes, encoding/json reads the same way, unless the two libraries
		// disagree on what they accept at the edges (invalid UTF-8, numbers out of
		// range, member names that differ only in case): then only the success matters.
		var want StoredEvent
		if json.Unmarshal(data, &want) != nil || !json.Valid(data) || !utf8Clean(data) || caseVariants(data) {
			return
		}
		if got.SampleID != want.SampleID || got.DeviceID != want.DeviceID || !got.Timestamp.Equal(want.Timestamp) ||
			got.FinalScore != want.FinalScore || got.IsCompliant != want.IsCompliant {
			t.Errorf("got %+v, encoding/json %+v", got, want)
		}
		if len(got.SensorUpdate) > 0 && !json.Valid(got.SensorUpdate) {
			t.Errorf("sensor_update %q is not JSON", got.SensorUpdate)
		}
	})
}

func utf8Clean(b []byte) bool {
	return bytes.Equal(bytes.ToValidUTF8(b, nil), b) && !bytes.Contains(b, []byte(`\ud`)) && !bytes.Contains(b, []byte(`\uD`))
}

// caseVariants reports whether data names a member in another case than the fields'
// (encoding/json matches those, DecodeStoredEvent does not).
func caseVariants(data []byte) bool {
	l := bytes.ToLower(data)
	for _, k := range []string{"sample_id", "device_id", "timestamp", "fusion_final_score", "fusion_is_compliant"} {
		if bytes.Count(l, []byte(`"`+k+`"`)) != bytes.Count(data, []byte(`"`+k+`"`)) {
			return true
		}
	}
	return false
}
