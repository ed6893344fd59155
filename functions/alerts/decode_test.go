package alerts

import (
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/sqalfn/sqal/shared/alert"
	"github.com/sqalfn/sqal/shared/sample"
)

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"sample_id":"S","device_id":"D","fusion_final_score":0.3,"fusion_final_grade":"REJECT"}`))
	f.Add([]byte(`{"sample_id":"S","device_id":"D","site_code":null,"lot_id":12,"as7341_oxidation_index":1e308}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"fusion_final_score":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e := cloudevents.NewEvent()
		e.SetID("x")
		e.SetSource(sample.Source)
		e.SetType(sample.TypeStored)
		_ = e.SetData(cloudevents.ApplicationJSON, data)
		s, err := decode(e)
		if err != nil {
			return
		}
		if s.SampleID == "" || s.DeviceID == "" {
			t.Fatalf("accepted an event without ids: %q", data)
		}
		// Whatever decodes must evaluate without panicking, with known types.
		for _, a := range alert.Evaluate(ruleInput(s)) {
			if a.Message == "" || a.Severity == "" {
				t.Fatalf("alert %+v", a)
			}
		}
	})
}
