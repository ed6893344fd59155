// Command testfn is a minimal HTTP function served by the shared runtime, used by the
// runtime's process-level tests (graceful shutdown, FUNCTION_TARGET).
package main

import (
	"context"
	"net/http"
	"time"

	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/runtime"
)

// Function is the test function.
var Function = runtime.Function{
	Target:  "TestFn",
	Service: "testfn",
	HTTP: func(ctx context.Context, env *runtime.Env) (http.Handler, error) {
		rt := httpapi.NewRouter()
		rt.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
			p := httpapi.Params(r)
			ms := p.Query("ms").Int(2000, httpapi.Ge(0), httpapi.Le(60000))
			if !p.Check(w) {
				return
			}
			_, span := env.Tracer.Start(r.Context(), "sleep")
			time.Sleep(time.Duration(ms) * time.Millisecond)
			span.End()
			httpapi.JSON(w, http.StatusOK, map[string]any{"slept_ms": ms})
		})
		rt.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) { panic("test panic") })
		return rt, nil
	},
}

func init() { runtime.Register(Function) }

func main() { runtime.Main(Function) }
