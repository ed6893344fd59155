// Package relay is the scheduled safety net of the event flow. Every function that
// writes to the transactional outbox also relays it continuously while it runs; a
// function scaled to zero cannot, so a PingSource wakes this one every minute to
// deliver whatever is due ({"task":"outbox"}) and once a day to prune what is kept for
// inspection only ({"task":"retention"}: delivered outbox rows, processed-event
// records). It is also the dead-letter sink of every Trigger: any event that is not a
// PingSource tick is an event the broker gave up on, and is recorded in
// event_dead_letters for inspection and replay.
package relay

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/sethvargo/go-envconfig"

	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/runtime"
)

// Function is the relay's declaration for the runtime and functions-framework.
var Function = runtime.Function{
	Target:  "Relay",
	Service: "relay",
	Needs:   runtime.Needs{DB: true, Events: true},
	Event:   setup,
}

func init() { runtime.Register(Function) }

// Config of the relay function.
type Config struct {
	Relay events.RelayConfig
	// ProcessedRetention is how long consumers remember processed event ids. It must
	// exceed the longest redelivery window of the broker (retries with backoff take
	// minutes, not days).
	ProcessedRetention time.Duration `env:"PROCESSED_EVENTS_RETENTION, default=168h"`
}

// pingType is the type of the events a PingSource sends.
const pingType = "dev.knative.sources.ping"

// recordDeadLetter stores an undeliverable event with what Knative says about the
// failure (the knativeerror* extensions it adds before sending to the sink).
func recordDeadLetter(ctx context.Context, env *runtime.Env, e cloudevents.Event) error {
	ext := func(name string) string {
		v, _ := e.Extensions()[name]
		s, _ := v.(string)
		return s
	}
	status, _ := strconv.Atoi(ext("knativeerrorcode"))
	reason := ext("knativeerrordata")
	if b, err := base64.StdEncoding.DecodeString(reason); err == nil {
		reason = string(b) // Knative base64-encodes the subscriber's response body
	}
	d := events.DeadLetter{
		Origin:     "broker",
		Subscriber: ext("knativeerrordest"),
		Event:      e,
		LastStatus: status,
		LastError:  reason,
	}
	if err := events.WriteDeadLetter(ctx, env.DB.Pool, d); err != nil {
		return fmt.Errorf("record dead letter: %w", err) // 5xx: the broker retries the sink
	}
	env.Logger.WarnContext(ctx, "dead letter recorded", "event_id", e.ID(), "type", e.Type(), "subscriber", d.Subscriber, "status", status)
	return nil
}

// task is the PingSource payload.
type task struct {
	Task string `json:"task"`
}

func setup(ctx context.Context, env *runtime.Env) (runtime.EventHandler, error) {
	var cfg Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &cfg, Lookuper: env.Lookup}); err != nil {
		return nil, fmt.Errorf("relay config: %w", err)
	}
	if env.Publisher == nil {
		return nil, fmt.Errorf("relay: no broker configured (set K_SINK or BROKER_URL)")
	}
	r := events.NewRelay(env.DB.Pool, env.Publisher, cfg.Relay, env.Logger)
	return func(ctx context.Context, e cloudevents.Event) error {
		if e.Type() != pingType {
			return recordDeadLetter(ctx, env, e)
		}
		var t task
		if len(e.Data()) > 0 {
			if err := json.Unmarshal(e.Data(), &t); err != nil {
				return events.Permanent(fmt.Errorf("relay: event %s: data is not a task object: %w", e.ID(), err))
			}
		}
		switch t.Task {
		case "", "outbox":
			n, err := r.RunOnce(ctx)
			if err != nil {
				return fmt.Errorf("relay outbox: %w", err)
			}
			env.Logger.InfoContext(ctx, "outbox relayed", "delivered", n)
			return nil
		case "retention":
			pruned, err := events.PruneProcessed(ctx, env.DB.Pool, cfg.ProcessedRetention)
			if err != nil {
				return fmt.Errorf("prune processed events: %w", err)
			}
			// RunOnce also prunes delivered outbox rows past their retention.
			if _, err := r.RunOnce(ctx); err != nil {
				return fmt.Errorf("relay outbox: %w", err)
			}
			env.Logger.InfoContext(ctx, "retention done", "processed_events_pruned", pruned)
			return nil
		default:
			return events.Permanent(fmt.Errorf("relay: unknown task %q (want outbox or retention)", t.Task))
		}
	}, nil
}
