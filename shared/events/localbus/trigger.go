package localbus

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/types"
	"sigs.k8s.io/yaml"
)

// Trigger is the part of a Knative eventing.knative.dev/v1 Trigger the local bus
// applies. Only these fields are decoded; the manifests stay the source of truth.
type Trigger struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec TriggerSpec `json:"spec"`

	file string
}

// TriggerSpec is the Trigger's spec.
type TriggerSpec struct {
	Broker string `json:"broker"`
	// Filter is the original attribute filter: every attribute must equal its value
	// ("" matches any value, present or not).
	Filter *struct {
		Attributes map[string]string `json:"attributes"`
	} `json:"filter,omitempty"`
	// Filters are the newer filter dialects, all of which must match. When present,
	// Filter is ignored (as Knative does).
	Filters    []Filter    `json:"filters,omitempty"`
	Subscriber Destination `json:"subscriber"`
	Delivery   *Delivery   `json:"delivery,omitempty"`
}

// Filter is one Subscriptions API filter expression.
type Filter struct {
	Exact  map[string]string `json:"exact,omitempty"`
	Prefix map[string]string `json:"prefix,omitempty"`
	Suffix map[string]string `json:"suffix,omitempty"`
	All    []Filter          `json:"all,omitempty"`
	Any    []Filter          `json:"any,omitempty"`
	Not    *Filter           `json:"not,omitempty"`
	CESQL  string            `json:"cesql,omitempty"`
}

// Destination is a Knative duck Destination: a reference to a Service plus an
// optional URI (a path relative to the service, or an absolute URL when no ref).
type Destination struct {
	Ref *struct {
		Kind       string `json:"kind"`
		Name       string `json:"name"`
		APIVersion string `json:"apiVersion"`
	} `json:"ref,omitempty"`
	URI string `json:"uri,omitempty"`
}

// Service is the referenced service name ("" without ref).
func (d Destination) Service() string {
	if d.Ref == nil {
		return ""
	}
	return d.Ref.Name
}

// Path is the request path at the service: the URI's path, or "/".
func (d Destination) Path() string {
	if d.URI == "" {
		return "/"
	}
	u := d.URI
	if i := strings.Index(u, "://"); i >= 0 { // absolute URL: keep its path
		u = u[i+3:]
		if j := strings.IndexByte(u, '/'); j >= 0 {
			u = u[j:]
		} else {
			u = "/"
		}
	}
	if !strings.HasPrefix(u, "/") {
		u = "/" + u
	}
	return u
}

// Delivery is the Trigger's delivery spec.
type Delivery struct {
	Retry          *int32       `json:"retry,omitempty"`
	BackoffPolicy  string       `json:"backoffPolicy,omitempty"`
	BackoffDelay   string       `json:"backoffDelay,omitempty"`
	Timeout        string       `json:"timeout,omitempty"`
	DeadLetterSink *Destination `json:"deadLetterSink,omitempty"`
}

// Default delivery when a Trigger says nothing: the values Knative ships in
// config-br-defaults (retry 10, exponential, PT0.2S).
const (
	defaultRetry        = 10
	defaultBackoffDelay = 200 * time.Millisecond
	defaultTimeout      = 60 * time.Second
)

// LoadTriggers reads every Trigger document of the *.yaml / *.yml files in dir
// (several documents per file allowed; documents of other kinds are skipped).
func LoadTriggers(dir string) ([]Trigger, error) {
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	var out []Trigger
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read triggers: %w", err)
		}
		ts, err := ParseTriggers(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for i := range ts {
			ts[i].file = f
		}
		out = append(out, ts...)
	}
	return out, nil
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// ParseTriggers decodes the Trigger documents of a multi-document YAML stream and
// checks that the local bus can apply them.
func ParseTriggers(b []byte) ([]Trigger, error) {
	var out []Trigger
	for i, doc := range docSeparator.Split(string(b), -1) {
		if len(bytes.TrimSpace([]byte(stripComments(doc)))) == 0 {
			continue
		}
		var head struct {
			Kind       string `json:"kind"`
			APIVersion string `json:"apiVersion"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if head.Kind != "Trigger" || !strings.HasPrefix(head.APIVersion, "eventing.knative.dev/") {
			continue
		}
		var t Trigger
		if err := yaml.Unmarshal([]byte(doc), &t); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if err := t.check(); err != nil {
			return nil, fmt.Errorf("trigger %q: %w", t.Metadata.Name, err)
		}
		out = append(out, t)
	}
	return out, nil
}

func stripComments(doc string) string {
	var sb strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		sb.WriteString(line)
		sb.WriteByte('\n')
	}
	return sb.String()
}

func (t *Trigger) check() error {
	if t.Metadata.Name == "" {
		return errors.New("no metadata.name")
	}
	if t.Spec.Subscriber.Service() == "" {
		return errors.New("spec.subscriber.ref.name is required by the local bus (absolute URIs are not delivered)")
	}
	for _, f := range t.Spec.Filters {
		if err := f.check(); err != nil {
			return err
		}
	}
	if _, err := t.retryPolicy(); err != nil {
		return err
	}
	return nil
}

func (f Filter) check() error {
	n := 0
	for _, set := range []bool{len(f.Exact) > 0, len(f.Prefix) > 0, len(f.Suffix) > 0, len(f.All) > 0, len(f.Any) > 0, f.Not != nil, f.CESQL != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("a filter must use exactly one dialect, this one uses %d", n)
	}
	if f.CESQL != "" {
		return errors.New("cesql filters are not supported by the local bus")
	}
	for _, sub := range append(append([]Filter{}, f.All...), f.Any...) {
		if err := sub.check(); err != nil {
			return err
		}
	}
	if f.Not != nil {
		return f.Not.check()
	}
	return nil
}

// Matches reports whether e passes the Trigger's filters.
func (t *Trigger) Matches(e cloudevents.Event) bool {
	if len(t.Spec.Filters) > 0 {
		for _, f := range t.Spec.Filters {
			if !f.Matches(e) {
				return false
			}
		}
		return true
	}
	if t.Spec.Filter != nil {
		for k, want := range t.Spec.Filter.Attributes {
			if want == "" {
				continue // Knative's "any" value
			}
			if got, ok := attribute(e, k); !ok || got != want {
				return false
			}
		}
	}
	return true
}

// Matches evaluates one filter expression on e.
func (f Filter) Matches(e cloudevents.Event) bool {
	switch {
	case len(f.Exact) > 0:
		return eachAttribute(e, f.Exact, func(got, want string) bool { return got == want })
	case len(f.Prefix) > 0:
		return eachAttribute(e, f.Prefix, strings.HasPrefix)
	case len(f.Suffix) > 0:
		return eachAttribute(e, f.Suffix, strings.HasSuffix)
	case len(f.All) > 0:
		for _, sub := range f.All {
			if !sub.Matches(e) {
				return false
			}
		}
		return true
	case len(f.Any) > 0:
		for _, sub := range f.Any {
			if sub.Matches(e) {
				return true
			}
		}
		return false
	case f.Not != nil:
		return !f.Not.Matches(e)
	}
	return true
}

func eachAttribute(e cloudevents.Event, m map[string]string, ok func(got, want string) bool) bool {
	for k, want := range m {
		got, present := attribute(e, k)
		if !present || !ok(got, want) {
			return false
		}
	}
	return true
}

// attribute returns a context attribute or extension of e as a string.
func attribute(e cloudevents.Event, name string) (string, bool) {
	switch strings.ToLower(name) {
	case "specversion":
		return e.SpecVersion(), true
	case "id":
		return e.ID(), e.ID() != ""
	case "source":
		return e.Source(), e.Source() != ""
	case "type":
		return e.Type(), e.Type() != ""
	case "subject":
		return e.Subject(), e.Subject() != ""
	case "datacontenttype":
		return e.DataContentType(), e.DataContentType() != ""
	case "dataschema":
		return e.DataSchema(), e.DataSchema() != ""
	case "time":
		if e.Time().IsZero() {
			return "", false
		}
		return types.FormatTime(e.Time()), true
	}
	v, ok := e.Extensions()[strings.ToLower(name)]
	if !ok {
		return "", false
	}
	s, err := types.Format(v)
	return s, err == nil
}

// retryPolicy is the Trigger's delivery as numbers.
type retryPolicy struct {
	retries     int
	exponential bool
	delay       time.Duration
	timeout     time.Duration
	deadLetter  *Destination
}

func (t *Trigger) retryPolicy() (retryPolicy, error) {
	p := retryPolicy{retries: defaultRetry, exponential: true, delay: defaultBackoffDelay, timeout: defaultTimeout}
	d := t.Spec.Delivery
	if d == nil {
		return p, nil
	}
	if d.Retry != nil {
		if *d.Retry < 0 {
			return p, errors.New("delivery.retry must not be negative")
		}
		p.retries = int(*d.Retry)
	}
	switch strings.ToLower(d.BackoffPolicy) {
	case "", "exponential":
	case "linear":
		p.exponential = false
	default:
		return p, fmt.Errorf("delivery.backoffPolicy %q: want linear or exponential", d.BackoffPolicy)
	}
	var err error
	if d.BackoffDelay != "" {
		if p.delay, err = ParseISODuration(d.BackoffDelay); err != nil {
			return p, fmt.Errorf("delivery.backoffDelay: %w", err)
		}
	}
	if d.Timeout != "" {
		if p.timeout, err = ParseISODuration(d.Timeout); err != nil {
			return p, fmt.Errorf("delivery.timeout: %w", err)
		}
	}
	p.deadLetter = d.DeadLetterSink
	return p, nil
}

// wait is the delay before retry n (1-based) as Knative documents it:
// backoffDelay*2^n when exponential, backoffDelay*n when linear.
func (p retryPolicy) wait(n int) time.Duration {
	if p.exponential {
		return time.Duration(float64(p.delay) * math.Pow(2, float64(n)))
	}
	return p.delay * time.Duration(n)
}

var isoDuration = regexp.MustCompile(`^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// ParseISODuration parses the ISO-8601 durations Knative delivery specs use
// (PnDTnHnMnS, fractions allowed: PT0.2S, PT1M30S, P1D).
func ParseISODuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(strings.ToUpper(strings.TrimSpace(s)))
	if m == nil || s == "P" || strings.HasSuffix(strings.ToUpper(s), "T") {
		return 0, fmt.Errorf("invalid ISO-8601 duration %q", s)
	}
	units := []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second}
	var d time.Duration
	any := false
	for i, u := range units {
		if m[i+1] == "" {
			continue
		}
		f, err := strconv.ParseFloat(m[i+1], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid ISO-8601 duration %q: %w", s, err)
		}
		part := f * float64(u)
		if part > float64(math.MaxInt64)-float64(d) {
			return 0, fmt.Errorf("ISO-8601 duration %q is too long", s)
		}
		d += time.Duration(part)
		any = true
	}
	if !any {
		return 0, fmt.Errorf("invalid ISO-8601 duration %q", s)
	}
	return d, nil
}
