package events

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// PublisherConfig configures NewPublisher.
type PublisherConfig struct {
	// SinkURL is set by Knative (SinkBinding, ContainerSource) to the broker's address.
	SinkURL string `env:"K_SINK"`
	// BrokerURL is used when K_SINK is not set: the broker ingress URL, e.g.
	// http://broker-ingress.knative-eventing.svc.cluster.local/sqal/default.
	BrokerURL string `env:"BROKER_URL"`
	// MaxAttempts bounds the sends of one event (first try included).
	MaxAttempts int `env:"EVENTS_MAX_ATTEMPTS, default=5"`
	// InitialBackoff is the wait after the first failure; it doubles up to MaxBackoff
	// (with full jitter so that many senders do not retry in step).
	InitialBackoff time.Duration `env:"EVENTS_INITIAL_BACKOFF, default=100ms"`
	MaxBackoff     time.Duration `env:"EVENTS_MAX_BACKOFF, default=5s"`
	// Timeout bounds one attempt.
	Timeout time.Duration `env:"EVENTS_TIMEOUT, default=10s"`
}

// Target is the URL events are sent to: K_SINK, else BROKER_URL.
func (c PublisherConfig) Target() string {
	if c.SinkURL != "" {
		return c.SinkURL
	}
	return c.BrokerURL
}

func (c *PublisherConfig) setDefaults() {
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff < c.InitialBackoff {
		c.MaxBackoff = max(5*time.Second, c.InitialBackoff)
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
}

// Publisher sends CloudEvents to the broker over HTTP (binary mode), with retries on
// transient failures and W3C trace propagation.
//
// Event ids are the caller's job: give every event a stable id derived from what it
// describes (the sample id for sqal.sample.stored), never a random id per attempt,
// because delivery is at least once and consumers deduplicate on (source, id).
// Publish rejects an event without id.
type Publisher struct {
	client cloudevents.Client
	cfg    PublisherConfig
	target string
}

// NewPublisher returns a Publisher towards cfg.Target().
func NewPublisher(ctx context.Context, cfg PublisherConfig) (*Publisher, error) {
	cfg.setDefaults()
	target := cfg.Target()
	if target == "" {
		return nil, errors.New("events: no broker address: set K_SINK or BROKER_URL")
	}
	// otelhttp records a client span per attempt and injects its context with the
	// global propagator; Publish also sets the headers itself, so the trace crosses
	// the broker even when no global propagator is installed.
	hc := http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport)}
	p, err := cehttp.New(cehttp.WithTarget(target), cehttp.WithClient(hc))
	if err != nil {
		return nil, fmt.Errorf("events: create HTTP protocol for %s: %w", target, err)
	}
	c, err := cloudevents.NewClient(p, cloudevents.WithTimeNow())
	if err != nil {
		return nil, fmt.Errorf("events: create client: %w", err)
	}
	return &Publisher{client: c, cfg: cfg, target: target}, nil
}

// Target is the URL events are sent to.
func (p *Publisher) Target() string { return p.target }

// Publish sends e, retrying network errors and the statuses a Knative Broker answers
// for transient trouble (5xx, 404 while the broker is not ready, 408, 409, 429) with
// exponential backoff until it succeeds, MaxAttempts is reached or ctx ends. Other
// rejections (400: malformed event) are returned as Permanent errors at once.
func (p *Publisher) Publish(ctx context.Context, e cloudevents.Event) error {
	if err := e.Validate(); err != nil {
		return Permanent(fmt.Errorf("publish invalid event %q: %w", e.ID(), err))
	}
	WithTraceContext(ctx, &e)
	header := http.Header{}
	for k, v := range TraceHeaders(e) {
		header.Set(k, v)
	}

	var last error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
		res := p.client.Send(cehttp.WithCustomHeader(actx, header), e)
		cancel()
		if cloudevents.IsACK(res) {
			return nil
		}
		retry := retriable(res)
		last = fmt.Errorf("publish event %s (%s) to %s: %w", e.ID(), e.Type(), p.target, res)
		if !retry {
			return Permanent(last)
		}
		if attempt >= p.cfg.MaxAttempts {
			return fmt.Errorf("%w (gave up after %d attempts)", last, attempt)
		}
		wait := backoff(attempt, p.cfg.InitialBackoff, p.cfg.MaxBackoff)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (stopped retrying: %w)", last, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// retriable classifies a failed send like Knative does for its deliveries.
func retriable(res error) bool {
	var hr *cehttp.Result
	if cloudevents.ResultAs(res, &hr) && hr.StatusCode != 0 {
		return RetriableStatus(hr.StatusCode)
	}
	// No HTTP status: the request did not complete (connection refused, timeout).
	return true
}

// RetriableStatus reports whether a delivery answered with code should be retried:
// 5xx, 404, 408, 409 and 429, as Knative Eventing does.
func RetriableStatus(code int) bool {
	switch {
	case code >= 500:
		return true
	case code == http.StatusNotFound, code == http.StatusRequestTimeout,
		code == http.StatusConflict, code == http.StatusTooManyRequests:
		return true
	}
	return false
}

// backoff is the wait before attempt n+1: initial*2^(n-1) capped at max, with full
// jitter (a uniform draw in [d/2, d]; "equal jitter").
func backoff(n int, initial, maxWait time.Duration) time.Duration {
	d := initial
	for i := 1; i < n && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	half := d / 2
	return half + rand.N(half+1)
}
