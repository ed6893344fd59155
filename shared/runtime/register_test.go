package runtime

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/sqalfn/sqal/shared/events"
)

// The functions-framework registration is lazy: setup runs once, from the
// environment, on the first request.
func TestLazyFunctionSetsUpOnce(t *testing.T) {
	t.Setenv("K_SERVICE", "lazy")
	setups := 0
	lf := &lazyFunction{fn: Function{Target: "Lazy", HTTP: func(ctx context.Context, env *Env) (http.Handler, error) {
		setups++
		if env.Service != "lazy" {
			t.Errorf("service %q", env.Service)
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }), nil
	}}}
	for i := 0; i < 3; i++ {
		rec := httptest.NewRecorder()
		lf.serveHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != http.StatusTeapot || rec.Header().Get(RequestIDHeader) == "" {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
	if setups != 1 {
		t.Errorf("setup ran %d times", setups)
	}
}

func TestLazyEventFunctionMapsErrors(t *testing.T) {
	lf := &lazyFunction{fn: Function{Target: "LazyEvent", Event: func(ctx context.Context, env *Env) (EventHandler, error) {
		return func(ctx context.Context, e cloudevents.Event) error {
			switch e.Type() {
			case "bad":
				return events.Permanent(errors.New("bad data"))
			case "fail":
				return errors.New("db down")
			}
			return nil
		}, nil
	}}}
	ev := cloudevents.NewEvent()
	ev.SetID("1")
	ev.SetSource("s")
	tests := []struct {
		typ        string
		wantStatus int // 0 = nil error, -1 = plain error (500)
	}{{"ok", 0}, {"bad", http.StatusBadRequest}, {"fail", -1}}
	for _, tt := range tests {
		ev.SetType(tt.typ)
		err := lf.receive(t.Context(), ev)
		var res *cehttp.Result
		switch {
		case tt.wantStatus == 0 && err != nil:
			t.Errorf("%s: %v", tt.typ, err)
		case tt.wantStatus > 0 && (!protocol.ResultAs(err, &res) || res.StatusCode != tt.wantStatus):
			t.Errorf("%s: %v, want status %d", tt.typ, err, tt.wantStatus)
		case tt.wantStatus == -1 && (err == nil || protocol.ResultAs(err, &res)):
			t.Errorf("%s: %v, want a plain error", tt.typ, err)
		}
	}
}

func TestRegisterTwiceIsNoop(t *testing.T) {
	fn := Function{Target: "RegisterTwice", HTTP: func(context.Context, *Env) (http.Handler, error) { return http.NotFoundHandler(), nil }}
	Register(fn)
	Register(fn) // functions-framework would log.Fatal on a duplicate name
}
