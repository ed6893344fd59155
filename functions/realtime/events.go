package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/redis/go-redis/v9"

	"github.com/sqalfn/sqal/shared/alert"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/sqalread"
	"github.com/sqalfn/sqal/shared/tenant"
)

// TypePredictionCreated is the event of the prediction step this function forwards
// (the same as ml.TypePredictionCreated, whose data is ml.PredictionEvent; shared/ml is
// not imported so the realtime binary does not carry the ML code; a test pins both).
const TypePredictionCreated = "sqal.prediction.created"

// claimAndPublish claims an event id (SET NX with a TTL in milliseconds) and, when the
// claim is new, publishes the message: it returns PUBLISH's receiver count, or -1 for
// an id already claimed.
var claimAndPublish = redis.NewScript(`
if redis.call('SET', KEYS[1], 1, 'NX', 'PX', ARGV[1]) then
    return redis.call('PUBLISH', ARGV[2], ARGV[3])
end
return -1`)

// encodeBroadcast is the channel message of b: its other fields as one line of JSON,
// a newline, then b.Message as is. The client message (a ~13 KB sensor_update) is
// neither re-encoded here nor parsed by every instance's fan-out.
func encodeBroadcast(b *broadcast) ([]byte, error) {
	h := *b
	h.Message = nil
	head, err := json.Marshal(&h)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(head)+1+len(b.Message))
	return append(append(append(out, head...), '\n'), b.Message...), nil
}

// decodeBroadcast reads a channel message: encodeBroadcast's form, or one JSON object
// (what instances from before that form publish; json.Marshal never writes a raw
// newline, so the two cannot be confused).
func decodeBroadcast(p []byte) (*broadcast, error) {
	var b broadcast
	i := bytes.IndexByte(p, '\n')
	if i < 0 {
		if err := json.Unmarshal(p, &b); err != nil {
			return nil, err
		}
	} else {
		if err := json.Unmarshal(p[:i], &b); err != nil {
			return nil, err
		}
		b.Message = p[i+1:]
	}
	if m := bytes.TrimSpace(b.Message); len(m) == 0 || m[0] != '{' {
		return nil, errors.New("no client message")
	}
	return &b, nil
}

// broadcast is what travels on the Redis channel: the client message, built once by the
// instance that received the event, plus what the per-client filters test.
type broadcast struct {
	ID       string  `json:"id"` // "<source> <id>" of the CloudEvent, for logs
	Kind     string  `json:"kind"`
	DeviceID *string `json:"device_id,omitempty"`
	SiteCode *string `json:"site_code,omitempty"`
	Grade    *string `json:"grade,omitempty"`
	// Organization is the organisation of the event's data (its organizationid
	// extension); only that organisation's clients and cross-organisation ones get it.
	// Empty (a message of an instance from before organisations): the default one.
	Organization string          `json:"organization_id,omitempty"`
	Message      json.RawMessage `json:"message,omitempty"` // after the newline on the channel
}

// organization is the organisation of b's data.
func (b *broadcast) organization() string {
	if b.Organization == "" {
		return tenant.DefaultOrganization
	}
	return b.Organization
}

// errBadEvent marks an event that retrying cannot fix (answered 400).
type errBadEvent struct{ error }

func bad(format string, args ...any) error { return errBadEvent{fmt.Errorf(format, args...)} }

// serveEvent receives one CloudEvent (binary or structured mode) from the Trigger.
func (s *Server) serveEvent(w http.ResponseWriter, r *http.Request) {
	e, err := cehttp.NewEventFromHTTPRequest(r)
	if err == nil {
		err = e.Validate()
	}
	if err != nil {
		s.metrics.event(r.Context(), "unknown", "invalid")
		httpapi.ProblemDetail(w, http.StatusBadRequest, "invalid CloudEvent: "+err.Error())
		return
	}
	result, err := s.Publish(r.Context(), *e)
	s.metrics.event(r.Context(), e.Type(), result)
	var be errBadEvent
	switch {
	case errors.As(err, &be):
		httpapi.ProblemDetail(w, http.StatusBadRequest, err.Error())
	case err != nil:
		s.log.Error("realtime: publish event", "id", e.ID(), "type", e.Type(), "err", err)
		httpapi.ProblemDetail(w, http.StatusInternalServerError, "publish failed")
	default:
		w.WriteHeader(http.StatusAccepted)
	}
}

// Publish turns e into a client message and publishes it to every realtime instance,
// once per (source, id). The result is "published" or "duplicate" (or "invalid"/"error").
func (s *Server) Publish(ctx context.Context, e cloudevents.Event) (string, error) {
	b, err := s.toBroadcast(e)
	if err != nil {
		if errors.As(err, new(errBadEvent)) {
			return "invalid", err
		}
		return "error", err
	}
	payload, err := encodeBroadcast(b)
	if err != nil {
		return "error", fmt.Errorf("encode broadcast %s: %w", b.ID, err)
	}
	// Knative delivers at least once, possibly to another instance: the first delivery
	// claims the id; later ones are acknowledged without a second broadcast. Claim and
	// publish are one script, one round trip.
	key := "sqal:realtime:seen:" + e.Source() + "\x00" + e.ID()
	n, err := claimAndPublish.Run(ctx, s.rdb, []string{key}, s.cfg.DedupeTTL.Milliseconds(), s.cfg.Channel, payload).Int64()
	if err != nil {
		// Release the claim (if the script got that far) so the redelivery that our
		// 500 provokes is broadcast.
		if derr := s.rdb.Del(context.WithoutCancel(ctx), key).Err(); derr != nil {
			err = errors.Join(err, derr)
		}
		return "error", fmt.Errorf("publish event %s: %w", b.ID, err)
	}
	if n < 0 {
		return "duplicate", nil
	}
	return "published", nil
}

func (s *Server) toBroadcast(e cloudevents.Event) (*broadcast, error) {
	b, err := s.message(e)
	if err != nil {
		return nil, err
	}
	scope, err := events.OrganizationScope(e) // the default organisation without the extension
	if err != nil {
		return nil, errBadEvent{err}
	}
	b.Organization = scope.Organization
	return b, nil
}

// message builds the broadcast of e (without its organisation).
func (s *Server) message(e cloudevents.Event) (*broadcast, error) {
	id := e.Source() + " " + e.ID()
	switch e.Type() {
	case sample.TypeStored:
		d, err := sample.DecodeStoredEvent(e.Data())
		if err != nil {
			return nil, bad("decode %s %s: %w", e.Type(), id, err)
		}
		if u := bytes.TrimSpace(d.SensorUpdate); len(u) == 0 || u[0] != '{' {
			return nil, bad("%s %s: no sensor_update message", e.Type(), id)
		}
		return &broadcast{ID: id, Kind: typeSensorUpdate, DeviceID: &d.DeviceID, SiteCode: nonEmpty(d.SiteCode),
			Grade: &d.FinalGrade, Message: d.SensorUpdate}, nil

	case alert.TypeRaised:
		var a sqalread.AlertDB
		if err := json.Unmarshal(e.Data(), &a); err != nil {
			return nil, bad("decode %s %s: %w", e.Type(), id, err)
		}
		data, err := json.Marshal(&a)
		if err != nil {
			return nil, fmt.Errorf("encode alert %s: %w", id, err)
		}
		msg, err := json.Marshal(alertFrame{Type: typeAlert, Timestamp: stamp(s.now()), Data: data, Payload: a.Payload()})
		if err != nil {
			return nil, fmt.Errorf("encode alert %s: %w", id, err)
		}
		return &broadcast{ID: id, Kind: typeAlert, DeviceID: &a.DeviceID, SiteCode: extension(e, alert.ExtSite), Message: msg}, nil

	case TypePredictionCreated:
		var p predictionData
		if err := json.Unmarshal(e.Data(), &p); err != nil {
			return nil, bad("decode %s %s: %w", e.Type(), id, err)
		}
		if p.SampleID == "" {
			return nil, bad("%s %s: sample_id is required", e.Type(), id)
		}
		msg, err := json.Marshal(predictionFrame{Type: typePrediction, Timestamp: stamp(s.now()), Data: predictionOut{
			SampleID: p.SampleID, ModelName: p.ModelName, ModelVersion: p.ModelVersion,
			Score: p.Score, Grade: p.Grade, Explanations: p.Explanations,
		}})
		if err != nil {
			return nil, fmt.Errorf("encode prediction %s: %w", id, err)
		}
		dev := nonEmpty(p.DeviceID)
		if dev == nil {
			dev = extension(e, alert.ExtDevice)
		}
		return &broadcast{ID: id, Kind: typePrediction, DeviceID: dev, SiteCode: extension(e, alert.ExtSite), Message: msg}, nil
	}
	return nil, bad("unsupported event type %q", e.Type())
}

type alertFrame struct {
	Type      string                `json:"type"`
	Timestamp string                `json:"timestamp"`
	Data      json.RawMessage       `json:"data"`
	Payload   sqalread.AlertPayload `json:"payload"`
}

// predictionData is read leniently from sqal.prediction.created: only the keys the
// dashboard message needs.
type predictionData struct {
	SampleID     string          `json:"sample_id"`
	DeviceID     *string         `json:"device_id"`
	ModelName    *string         `json:"model_name"`
	ModelVersion *string         `json:"model_version"`
	Score        *float64        `json:"score"`
	Grade        *string         `json:"grade"`
	Explanations json.RawMessage `json:"explanations"`
}

// predictionFrame is the [NEW] "prediction" message: one per stored prediction, sent as
// its own message (clients ignore unknown types, contract §4).
type predictionFrame struct {
	Type      string        `json:"type"`
	Timestamp string        `json:"timestamp"`
	Data      predictionOut `json:"data"`
}

type predictionOut struct {
	SampleID     string          `json:"sample_id"`
	ModelName    *string         `json:"model_name"`
	ModelVersion *string         `json:"model_version"`
	Score        *float64        `json:"score"`
	Grade        *string         `json:"grade"`
	Explanations json.RawMessage `json:"explanations"`
}

func nonEmpty(p *string) *string {
	if p == nil || *p == "" {
		return nil
	}
	return p
}

func extension(e cloudevents.Event, name string) *string {
	v, ok := e.Extensions()[name]
	if !ok {
		return nil
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return nil
	}
	return &s
}

// fanOut delivers every message of the Redis channel to this instance's clients until
// Close. go-redis re-subscribes by itself after a connection loss; messages published
// meanwhile are lost for this instance (pub/sub has no replay), which a dashboard
// tolerates: the next sample refreshes it.
func (s *Server) fanOut(ps *redis.PubSub) {
	defer close(s.subDone)
	defer ps.Close()
	ch := ps.Channel(redis.WithChannelSize(1024))
	for {
		select {
		case <-s.shutdown:
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			b, err := decodeBroadcast([]byte(m.Payload))
			if err != nil {
				s.log.Warn("realtime: undecodable fan-out message", "err", err)
				continue
			}
			s.broadcastTo(b)
		}
	}
}

// latestSample returns the latest_sample data (SampleDict + final_score, final_grade,
// timestamp) of the newest sample scope sees, or nil when there is none or no database.
func (s *Server) latestSample(ctx context.Context, scope tenant.Scope) (json.RawMessage, error) {
	if s.db == nil || !scope.Valid() {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(tenant.With(ctx, scope), s.cfg.LatestSampleTimeout)
	defer cancel()
	d, err := sqalread.LatestSample(ctx, s.db)
	if errors.Is(err, sqalread.ErrNoSample) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(d.Live())
	if err != nil {
		return nil, fmt.Errorf("encode latest sample: %w", err)
	}
	return b, nil
}
