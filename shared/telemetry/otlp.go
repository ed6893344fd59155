package telemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// otlpExporter is an OTLP/HTTP span exporter (binary protobuf, as
// otlptracehttp sends by default). It encodes the few OTLP trace messages with
// protowire instead of the generated protobuf types: the official exporter links
// gRPC and the reflection-based protobuf runtime, which (like the Prometheus client
// library, see prom.go) keeps the Go linker from removing unused methods: about
// 14 MB more in every function binary (README, "Binary size").
// It reads the standard OTEL_EXPORTER_OTLP_[TRACES_]* variables: ENDPOINT,
// HEADERS, TIMEOUT, COMPRESSION, CERTIFICATE, CLIENT_CERTIFICATE, CLIENT_KEY.
type otlpExporter struct {
	url      string
	headers  map[string]string
	timeout  time.Duration
	gzip     bool
	client   *http.Client
	maxRetry time.Duration // total time spent retrying one batch

	mu      sync.Mutex
	stopped bool
}

// newOTLPExporter reads the exporter's configuration from getenv.
func newOTLPExporter(getenv func(string) string) (*otlpExporter, error) {
	env := func(name string) string {
		if v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_" + name)); v != "" {
			return v
		}
		return strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_" + name))
	}
	e := &otlpExporter{headers: map[string]string{}, timeout: 10 * time.Second, maxRetry: time.Minute}
	switch {
	case strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) != "":
		e.url = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) // used as is (spec)
	case strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")) != "":
		e.url = strings.TrimRight(strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")), "/") + "/v1/traces"
	default:
		e.url = "http://localhost:4318/v1/traces"
	}
	if u, err := url.Parse(e.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("OTLP traces endpoint: want an http(s) URL")
	}
	if h := env("HEADERS"); h != "" {
		for _, kv := range strings.Split(h, ",") {
			k, v, ok := strings.Cut(kv, "=")
			k = strings.TrimSpace(k)
			if !ok || k == "" {
				return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_HEADERS: malformed entry")
			}
			if dv, err := url.PathUnescape(strings.TrimSpace(v)); err == nil {
				v = dv
			}
			e.headers[k] = strings.TrimSpace(v)
		}
	}
	if t := env("TIMEOUT"); t != "" {
		ms, err := strconv.Atoi(t)
		if err != nil || ms < 0 {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_TIMEOUT %q: want milliseconds", t)
		}
		e.timeout = time.Duration(ms) * time.Millisecond
	}
	switch c := env("COMPRESSION"); c {
	case "", "none":
	case "gzip":
		e.gzip = true
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_COMPRESSION %q: want gzip or none", c)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if ca, cert, key := env("CERTIFICATE"), env("CLIENT_CERTIFICATE"), env("CLIENT_KEY"); ca != "" || cert != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return nil, fmt.Errorf("OTLP certificate: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, errors.New("OTLP certificate: no PEM certificate found")
			}
		}
		if cert != "" {
			pair, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				return nil, fmt.Errorf("OTLP client certificate: %w", err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		tr.TLSClientConfig = cfg
	}
	e.client = &http.Client{Transport: tr}
	return e, nil
}

// ExportSpans implements sdktrace.SpanExporter: one POST per batch, retried with
// backoff on 429, 502, 503, 504 and transport errors (Retry-After honoured).
func (e *otlpExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	stopped := e.stopped
	e.mu.Unlock()
	if stopped || len(spans) == 0 {
		return nil
	}
	body := encodeTraces(spans)
	if e.gzip {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = b.Bytes()
	}
	deadline := time.Now().Add(e.maxRetry)
	wait := 500 * time.Millisecond
	for {
		retry, after, err := e.post(ctx, body)
		if err == nil || !retry {
			return err
		}
		if after <= 0 {
			after = wait
			wait = min(2*wait, 10*time.Second)
		}
		if time.Now().Add(after).After(deadline) {
			return err
		}
		t := time.NewTimer(after)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

func (e *otlpExporter) post(ctx context.Context, body []byte) (retry bool, after time.Duration, err error) {
	if e.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return false, 0, err
	}
	for k, v := range e.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if e.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return ctx.Err() == nil, 0, fmt.Errorf("otlp traces export: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, 0, nil
	}
	err = fmt.Errorf("otlp traces export: %s: %q", resp.Status, msg)
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s >= 0 {
			after = time.Duration(s) * time.Second
		}
		return true, after, err
	}
	return false, 0, err
}

// Shutdown implements sdktrace.SpanExporter; later exports are dropped.
func (e *otlpExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	e.stopped = true
	e.mu.Unlock()
	e.client.CloseIdleConnections()
	return nil
}

// OTLP field numbers (opentelemetry-proto, collector/trace/v1 and trace/v1).
const (
	fRequestResourceSpans = 1 // ExportTraceServiceRequest.resource_spans

	fResourceSpansResource  = 1
	fResourceSpansScope     = 2
	fResourceSpansSchemaURL = 3

	fResourceAttributes = 1

	fScopeSpansScope     = 1
	fScopeSpansSpans     = 2
	fScopeSpansSchemaURL = 3

	fScopeName       = 1
	fScopeVersion    = 2
	fScopeAttributes = 3

	fSpanTraceID           = 1
	fSpanSpanID            = 2
	fSpanTraceState        = 3
	fSpanParentSpanID      = 4
	fSpanName              = 5
	fSpanKind              = 6
	fSpanStart             = 7
	fSpanEnd               = 8
	fSpanAttributes        = 9
	fSpanDroppedAttributes = 10
	fSpanEvents            = 11
	fSpanDroppedEvents     = 12
	fSpanLinks             = 13
	fSpanDroppedLinks      = 14
	fSpanStatus            = 15
	fSpanFlags             = 16

	fEventTime              = 1
	fEventName              = 2
	fEventAttributes        = 3
	fEventDroppedAttributes = 4

	fLinkTraceID           = 1
	fLinkSpanID            = 2
	fLinkTraceState        = 3
	fLinkAttributes        = 4
	fLinkDroppedAttributes = 5
	fLinkFlags             = 6

	fStatusMessage = 2
	fStatusCode    = 3

	fKeyValueKey   = 1
	fKeyValueValue = 2

	fAnyString = 1
	fAnyBool   = 2
	fAnyInt    = 3
	fAnyDouble = 4
	fAnyArray  = 5
	fAnyKvlist = 6
	fAnyBytes  = 7

	fKeyValueListValues = 1

	fArrayValues = 1

	spanFlagsHasIsRemote = 0x100
	spanFlagsIsRemote    = 0x200
)

// encodeTraces returns the ExportTraceServiceRequest of spans, grouped by resource
// and instrumentation scope in first-seen order.
func encodeTraces(spans []sdktrace.ReadOnlySpan) []byte {
	type scopeKey struct {
		res   attribute.Distinct
		scope instrumentation.Scope
	}
	type scopeGroup struct {
		scope instrumentation.Scope
		spans [][]byte
	}
	type resGroup struct {
		span   sdktrace.ReadOnlySpan // any span of the resource
		scopes []*scopeGroup
	}
	var order []*resGroup
	resources := map[attribute.Distinct]*resGroup{}
	scopes := map[scopeKey]*scopeGroup{}
	for _, s := range spans {
		if s == nil {
			continue
		}
		rk := s.Resource().Equivalent()
		rg := resources[rk]
		if rg == nil {
			rg = &resGroup{span: s}
			resources[rk] = rg
			order = append(order, rg)
		}
		sk := scopeKey{rk, s.InstrumentationScope()}
		sg := scopes[sk]
		if sg == nil {
			sg = &scopeGroup{scope: sk.scope}
			scopes[sk] = sg
			rg.scopes = append(rg.scopes, sg)
		}
		sg.spans = append(sg.spans, encodeSpan(s))
	}
	var req []byte
	for _, rg := range order {
		var rs []byte
		res := rg.span.Resource()
		var rb []byte
		for _, kv := range res.Attributes() {
			rb = appendKeyValue(rb, fResourceAttributes, kv)
		}
		rs = appendMessage(rs, fResourceSpansResource, rb)
		for _, sg := range rg.scopes {
			var ss, sc []byte
			sc = appendString(sc, fScopeName, sg.scope.Name)
			sc = appendString(sc, fScopeVersion, sg.scope.Version)
			for _, kv := range sg.scope.Attributes.ToSlice() {
				sc = appendKeyValue(sc, fScopeAttributes, kv)
			}
			ss = appendMessage(ss, fScopeSpansScope, sc)
			for _, sp := range sg.spans {
				ss = appendMessage(ss, fScopeSpansSpans, sp)
			}
			ss = appendString(ss, fScopeSpansSchemaURL, sg.scope.SchemaURL)
			rs = appendMessage(rs, fResourceSpansScope, ss)
		}
		rs = appendString(rs, fResourceSpansSchemaURL, res.SchemaURL())
		req = appendMessage(req, fRequestResourceSpans, rs)
	}
	return req
}

func encodeSpan(s sdktrace.ReadOnlySpan) []byte {
	sc := s.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	var b []byte
	b = protowire.AppendTag(b, fSpanTraceID, protowire.BytesType)
	b = protowire.AppendBytes(b, tid[:])
	b = protowire.AppendTag(b, fSpanSpanID, protowire.BytesType)
	b = protowire.AppendBytes(b, sid[:])
	b = appendString(b, fSpanTraceState, sc.TraceState().String())
	parent := s.Parent()
	if psid := parent.SpanID(); psid.IsValid() {
		b = protowire.AppendTag(b, fSpanParentSpanID, protowire.BytesType)
		b = protowire.AppendBytes(b, psid[:])
	}
	b = appendString(b, fSpanName, s.Name())
	if k := s.SpanKind(); k >= trace.SpanKindInternal && k <= trace.SpanKindConsumer {
		b = appendVarint(b, fSpanKind, uint64(k)) // OTel Go and OTLP number the kinds alike
	}
	b = appendFixed64(b, fSpanStart, unixNano(s.StartTime()))
	b = appendFixed64(b, fSpanEnd, unixNano(s.EndTime()))
	for _, kv := range s.Attributes() {
		b = appendKeyValue(b, fSpanAttributes, kv)
	}
	b = appendVarint(b, fSpanDroppedAttributes, clampCount(s.DroppedAttributes()))
	for _, ev := range s.Events() {
		var eb []byte
		eb = appendFixed64(eb, fEventTime, unixNano(ev.Time))
		eb = appendString(eb, fEventName, ev.Name)
		for _, kv := range ev.Attributes {
			eb = appendKeyValue(eb, fEventAttributes, kv)
		}
		eb = appendVarint(eb, fEventDroppedAttributes, clampCount(ev.DroppedAttributeCount))
		b = appendMessage(b, fSpanEvents, eb)
	}
	b = appendVarint(b, fSpanDroppedEvents, clampCount(s.DroppedEvents()))
	for _, l := range s.Links() {
		ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		var lb []byte
		lb = protowire.AppendTag(lb, fLinkTraceID, protowire.BytesType)
		lb = protowire.AppendBytes(lb, ltid[:])
		lb = protowire.AppendTag(lb, fLinkSpanID, protowire.BytesType)
		lb = protowire.AppendBytes(lb, lsid[:])
		lb = appendString(lb, fLinkTraceState, l.SpanContext.TraceState().String())
		for _, kv := range l.Attributes {
			lb = appendKeyValue(lb, fLinkAttributes, kv)
		}
		lb = appendVarint(lb, fLinkDroppedAttributes, clampCount(l.DroppedAttributeCount))
		lb = appendFixed32(lb, fLinkFlags, spanFlags(l.SpanContext.TraceFlags(), l.SpanContext))
		b = appendMessage(b, fSpanLinks, lb)
	}
	b = appendVarint(b, fSpanDroppedLinks, clampCount(s.DroppedLinks()))
	var st []byte
	st = appendString(st, fStatusMessage, s.Status().Description)
	switch s.Status().Code {
	case codes.Ok:
		st = appendVarint(st, fStatusCode, 1)
	case codes.Error:
		st = appendVarint(st, fStatusCode, 2)
	}
	b = appendMessage(b, fSpanStatus, st)
	b = appendFixed32(b, fSpanFlags, spanFlags(sc.TraceFlags(), parent))
	return b
}

// spanFlags: the W3C trace flags, and whether the parent (or linked) context is remote.
func spanFlags(tf trace.TraceFlags, parent trace.SpanContext) uint32 {
	f := uint32(tf) | spanFlagsHasIsRemote
	if parent.IsRemote() {
		f |= spanFlagsIsRemote
	}
	return f
}

func appendKeyValue(b []byte, field protowire.Number, kv attribute.KeyValue) []byte {
	var m []byte
	m = appendString(m, fKeyValueKey, string(kv.Key))
	m = appendMessage(m, fKeyValueValue, anyValue(kv.Value))
	return appendMessage(b, field, m)
}

// anyValue encodes an AnyValue; a set case is written even when zero (oneof); an
// empty value is an empty AnyValue.
func anyValue(v attribute.Value) []byte {
	var b []byte
	switch v.Type() {
	case attribute.BOOL:
		b = protowire.AppendTag(b, fAnyBool, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeBool(v.AsBool()))
	case attribute.INT64:
		b = protowire.AppendTag(b, fAnyInt, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(v.AsInt64()))
	case attribute.FLOAT64:
		b = protowire.AppendTag(b, fAnyDouble, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(v.AsFloat64()))
	case attribute.STRING:
		b = protowire.AppendTag(b, fAnyString, protowire.BytesType)
		b = protowire.AppendString(b, v.AsString())
	case attribute.BOOLSLICE:
		b = appendArray(b, v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		b = appendArray(b, v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		b = appendArray(b, v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		b = appendArray(b, v.AsStringSlice(), attribute.StringValue)
	case attribute.SLICE:
		b = appendArray(b, v.AsSlice(), func(x attribute.Value) attribute.Value { return x })
	case attribute.BYTESLICE:
		b = protowire.AppendTag(b, fAnyBytes, protowire.BytesType)
		b = protowire.AppendBytes(b, v.AsByteSlice())
	case attribute.MAP:
		var kvs []byte
		for _, kv := range v.AsMap() {
			kvs = appendKeyValue(kvs, fKeyValueListValues, kv)
		}
		b = appendMessage(b, fAnyKvlist, kvs)
	}
	return b
}

func appendArray[T any](b []byte, vs []T, conv func(T) attribute.Value) []byte {
	var arr []byte
	for _, x := range vs {
		arr = appendMessage(arr, fArrayValues, anyValue(conv(x)))
	}
	return appendMessage(b, fAnyArray, arr)
}

// appendMessage appends an embedded message (always, even when empty).
func appendMessage(b []byte, field protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

// The scalar appenders leave out zero values, as proto3 does.
func appendString(b []byte, field protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendVarint(b []byte, field protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, field, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendFixed64(b []byte, field protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, field, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, v)
}

func appendFixed32(b []byte, field protowire.Number, v uint32) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, field, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, v)
}

func unixNano(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(max(0, t.UnixNano()))
}

func clampCount(n int) uint64 { return uint64(min(max(n, 0), math.MaxUint32)) }
