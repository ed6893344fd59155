package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/localstack"
)

// TestServedByFunctionsFramework proves Register makes valid functions-framework
// functions: the framework's own server (no FUNCTION_TARGET: each function at
// /<Target>) serves the HTTP function and maps the CloudEvent function's errors.
// funcframework.Start cannot be stopped; its listener lives until the test binary exits.
func TestServedByFunctionsFramework(t *testing.T) {
	t.Setenv("FUNCTION_TARGET", "")
	Register(Function{Target: "FFHTTP", HTTP: func(context.Context, *Env) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello from ff") }), nil
	}})
	Register(Function{Target: "FFEvent", Event: func(context.Context, *Env) (EventHandler, error) {
		return func(ctx context.Context, e cloudevents.Event) error {
			if e.Type() == "bad" {
				return events.Permanent(errors.New("bad data"))
			}
			return nil
		}, nil
	}})
	p, err := localstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(p)
	go func() { _ = funcframework.StartHostPort("127.0.0.1", port) }()
	base := "http://127.0.0.1:" + port

	var resp *http.Response
	for deadline := time.Now().Add(5 * time.Second); ; {
		resp, err = http.Get(base + "/FFHTTP")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello from ff" || resp.Header.Get(RequestIDHeader) == "" {
		t.Fatalf("HTTP function: %d %q", resp.StatusCode, body)
	}
	for typ, want := range map[string]int{"ok": 200, "bad": 400} {
		req, _ := http.NewRequest("POST", base+"/FFEvent", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("ce-specversion", "1.0")
		req.Header.Set("ce-id", "1")
		req.Header.Set("ce-source", "test")
		req.Header.Set("ce-type", typ)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("event %s: %d, want %d", typ, resp.StatusCode, want)
		}
	}
}
