package localbus

import (
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

func event(typ, source, subject string, ext map[string]any) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID("id-1")
	e.SetType(typ)
	e.SetSource(source)
	if subject != "" {
		e.SetSubject(subject)
	}
	for k, v := range ext {
		e.SetExtension(k, v)
	}
	return e
}

func TestFilterMatches(t *testing.T) {
	e := event("sqal.sample.stored", "/sqal/ingest", "ESP32-1", map[string]any{"sqalsite": "LL", "lotid": 42})
	tests := []struct {
		name   string
		filter Filter
		want   bool
	}{
		{"exact type", Filter{Exact: map[string]string{"type": "sqal.sample.stored"}}, true},
		{"exact other type", Filter{Exact: map[string]string{"type": "sqal.alert.raised"}}, false},
		{"exact two attributes", Filter{Exact: map[string]string{"type": "sqal.sample.stored", "sqalsite": "LL"}}, true},
		{"exact missing extension", Filter{Exact: map[string]string{"nope": ""}}, false},
		{"exact integer extension", Filter{Exact: map[string]string{"lotid": "42"}}, true},
		{"prefix", Filter{Prefix: map[string]string{"source": "/sqal/"}}, true},
		{"prefix miss", Filter{Prefix: map[string]string{"source": "/other/"}}, false},
		{"suffix", Filter{Suffix: map[string]string{"type": ".stored"}}, true},
		{"suffix miss", Filter{Suffix: map[string]string{"type": ".raised"}}, false},
		{"all", Filter{All: []Filter{{Prefix: map[string]string{"type": "sqal."}}, {Exact: map[string]string{"subject": "ESP32-1"}}}}, true},
		{"all one fails", Filter{All: []Filter{{Prefix: map[string]string{"type": "sqal."}}, {Exact: map[string]string{"subject": "x"}}}}, false},
		{"any", Filter{Any: []Filter{{Exact: map[string]string{"type": "x"}}, {Suffix: map[string]string{"type": "stored"}}}}, true},
		{"any none", Filter{Any: []Filter{{Exact: map[string]string{"type": "x"}}, {Exact: map[string]string{"type": "y"}}}}, false},
		{"not", Filter{Not: &Filter{Exact: map[string]string{"type": "x"}}}, true},
		{"not matching", Filter{Not: &Filter{Exact: map[string]string{"type": "sqal.sample.stored"}}}, false},
		{"id and specversion", Filter{Exact: map[string]string{"id": "id-1", "specversion": "1.0"}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.filter.check(); err != nil {
				t.Fatalf("check: %v", err)
			}
			if got := tc.filter.Matches(e); got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLoadTriggers(t *testing.T) {
	ts, err := LoadTriggers("testdata/triggers")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Trigger{}
	for _, tr := range ts {
		byName[tr.Metadata.Name] = tr
	}
	if len(ts) != 3 || len(byName) != 3 {
		t.Fatalf("loaded %d triggers: %v", len(ts), byName)
	}
	rt := byName["realtime-everything-sqal"]
	if rt.Spec.Subscriber.Service() != "realtime" || rt.Spec.Subscriber.Path() != "/events" {
		t.Errorf("realtime subscriber = %s %s", rt.Spec.Subscriber.Service(), rt.Spec.Subscriber.Path())
	}
	p, err := rt.retryPolicy()
	if err != nil || p.retries != 2 || !p.exponential || p.delay != 5*time.Millisecond || p.deadLetter.Service() != "missing-dls" {
		t.Errorf("realtime policy = %+v, %v", p, err)
	}
	legacy := byName["predict-legacy"]
	tests := []struct {
		trigger Trigger
		e       cloudevents.Event
		want    bool
	}{
		{legacy, event("sqal.sample.stored", "/x", "", nil), true}, // "" matches any value, even none
		{legacy, event("sqal.alert.raised", "/x", "", nil), false},
		{rt, event("sqal.sample.stored", "/x", "", nil), true},
		{rt, event("sqal.alert.raised", "/x", "", nil), true},
		{rt, event("sqal.alert.raised", "/x", "ignored", nil), false},
		{rt, event("sqal.model.trained", "/x", "", nil), false},
		{byName["alerts-sample-stored"], event("sqal.sample.stored", "/other", "", nil), false},
	}
	for i, tc := range tests {
		if got := tc.trigger.Matches(tc.e); got != tc.want {
			t.Errorf("%d: %s matches %s = %v, want %v", i, tc.trigger.Metadata.Name, tc.e.Type(), got, tc.want)
		}
	}
}

func TestParseTriggersRejects(t *testing.T) {
	tests := map[string]string{
		"cesql": `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: a}
spec:
  filters: [{cesql: "type = 'x'"}]
  subscriber: {ref: {name: s}}`,
		"two dialects": `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: a}
spec:
  filters: [{exact: {type: x}, prefix: {type: y}}]
  subscriber: {ref: {name: s}}`,
		"no subscriber ref": `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: a}
spec:
  subscriber: {uri: "http://example.com/"}`,
		"bad delay": `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: a}
spec:
  subscriber: {ref: {name: s}}
  delivery: {backoffDelay: 5s}`,
		"bad policy": `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: a}
spec:
  subscriber: {ref: {name: s}}
  delivery: {backoffPolicy: random}`,
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseTriggers([]byte(doc)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestParseISODuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT0.2S", 200 * time.Millisecond, true},
		{"PT1S", time.Second, true},
		{"PT1M30S", 90 * time.Second, true},
		{"PT2H", 2 * time.Hour, true},
		{"P1D", 24 * time.Hour, true},
		{"P1DT1H", 25 * time.Hour, true},
		{"pt0.5s", 500 * time.Millisecond, true},
		{"P", 0, false},
		{"PT", 0, false},
		{"1S", 0, false},
		{"PT1X", 0, false},
		{"", 0, false},
		{"P999999999999D", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseISODuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseISODuration(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestBackoffWait(t *testing.T) {
	exp := retryPolicy{exponential: true, delay: 100 * time.Millisecond}
	lin := retryPolicy{delay: 100 * time.Millisecond}
	for n, want := range map[int][2]time.Duration{1: {200 * time.Millisecond, 100 * time.Millisecond}, 3: {800 * time.Millisecond, 300 * time.Millisecond}} {
		if got := exp.wait(n); got != want[0] {
			t.Errorf("exponential wait(%d) = %v, want %v", n, got, want[0])
		}
		if got := lin.wait(n); got != want[1] {
			t.Errorf("linear wait(%d) = %v, want %v", n, got, want[1])
		}
	}
}

func FuzzParseTriggers(f *testing.F) {
	f.Add([]byte("apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: a}\nspec: {subscriber: {ref: {name: s}}}\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := ParseTriggers(b)
		if err != nil {
			return
		}
		e := event("sqal.sample.stored", "/sqal/ingest", "", nil)
		for _, tr := range ts {
			tr.Matches(e)
		}
	})
}

func FuzzParseISODuration(f *testing.F) {
	for _, s := range []string{"PT0.2S", "P1DT2H3M4.5S", "PT", "P", "-PT1S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseISODuration(s)
		if err == nil && d < 0 {
			t.Errorf("ParseISODuration(%q) = %v: negative", s, d)
		}
	})
}
