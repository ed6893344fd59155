package manifestcheck

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	"knative.dev/serving/pkg/apis/autoscaling"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// ModulePrefix is the import path prefix of the product's modules; ko builds images from
// these import paths (ko://...), and skaffold replaces the references with what it built.
const ModulePrefix = "github.com/sqalfn/sqal"

// FunctionImage is the image reference a function's Knative Service must use.
func FunctionImage(service string) string {
	return "ko://" + ModulePrefix + "/functions/" + service + "/cmd"
}

// Rules the product chose for its Services (DESIGN.md §3, issue 7).
var (
	// AlwaysWarm services keep one pod: stations and dashboards hold WebSockets open and
	// the gateway is the one public origin.
	AlwaysWarm = map[string]bool{"gateway": true, "ingest": true, "realtime": true}
	// ScaleToZero services are event-driven or rare.
	ScaleToZero = map[string]bool{"alerts": true, "predict": true, "train": true, "relay": true}
	// Public is the only Service with a route outside the cluster; the others are reached
	// through it, the Broker or a PingSource.
	Public = map[string]bool{"gateway": true}
)

const (
	annWebSocket    = "sqal.dev/websocket"
	annConnsPerReq  = "sqal.dev/db-conns-per-request"
	visibilityLabel = "networking.knative.dev/visibility"
)

// CheckFunctionsHaveServices: every folder under functions/ has a Knative Service of the
// same name, built from its cmd/ package.
func CheckFunctionsHaveServices(root string, s *Set) error {
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return fmt.Errorf("list functions: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, ok := s.Services[e.Name()]; !ok {
			errs = append(errs, fmt.Errorf("functions/%s has no Knative Service (knative/services/%s.yaml)", e.Name(), e.Name()))
		}
	}
	return errors.Join(errs...)
}

// CheckServiceConventions applies the product's rules to every Knative Service.
func CheckServiceConventions(s *Set) error {
	var errs []error
	fail := func(svc string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("knative Service %s: %s", svc, fmt.Sprintf(format, args...)))
	}
	for _, name := range sortedKeys(s.Services) {
		svc := s.Services[name]
		ann := svc.Spec.Template.Annotations
		minScale, minErr := strconv.Atoi(ann[autoscaling.MinScaleAnnotationKey])
		maxScale, maxErr := strconv.Atoi(ann[autoscaling.MaxScaleAnnotationKey])
		if minErr != nil || maxErr != nil {
			fail(name, "needs both %s and %s", autoscaling.MinScaleAnnotationKey, autoscaling.MaxScaleAnnotationKey)
		} else if maxScale < 1 {
			fail(name, "max-scale must be bounded (>= 1): it sizes the database budget")
		}
		if AlwaysWarm[name] && minScale < 1 {
			fail(name, "must keep min-scale >= 1 (clients hold connections to it)")
		}
		if ScaleToZero[name] && minScale != 0 {
			fail(name, "must scale to zero (min-scale 0)")
		}
		vis := svc.Labels[visibilityLabel]
		if Public[name] && vis == "cluster-local" {
			fail(name, "is the public entry and must not be cluster-local")
		}
		if !Public[name] && vis != "cluster-local" {
			fail(name, "must carry %s: cluster-local (only the gateway is public)", visibilityLabel)
		}
		spec := svc.Spec.Template.Spec
		if len(spec.Containers) != 1 {
			fail(name, "must have exactly one container")
			continue
		}
		c := spec.Containers[0]
		if c.Image != FunctionImage(name) {
			fail(name, "image %q, want %q", c.Image, FunctionImage(name))
		}
		env := envMap(c.Env)
		if env["FUNCTION_TARGET"] == "" {
			fail(name, "sets no FUNCTION_TARGET")
		}
		if _, ok := env["PORT"]; ok {
			fail(name, "must not set PORT (Knative sets it)")
		}
		if timeout := spec.TimeoutSeconds; timeout == nil || *timeout <= 0 {
			fail(name, "needs timeoutSeconds")
		}
		// Probes: readiness on /readyz without periodSeconds (fast cold start),
		// liveness on /healthz.
		if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
			fail(name, "readinessProbe must be httpGet /readyz")
		} else if p.PeriodSeconds != 0 {
			fail(name, "readinessProbe must leave periodSeconds unset (Knative's fast startup probing)")
		}
		if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
			fail(name, "livenessProbe must be httpGet /healthz")
		}
		if err := checkRestricted(c); err != nil {
			fail(name, "%v", err)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			fail(name, "needs cpu/memory requests and a memory limit")
		}
		// containerConcurrency is matched to the pool: every in-flight request may hold a
		// connection. WebSocket services budget sockets instead (one request = one socket).
		cc := int64(0)
		if spec.ContainerConcurrency != nil {
			cc = *spec.ContainerConcurrency
		}
		if dbs, ok := env["DB_MAX_CONNS"]; ok {
			db, err := strconv.ParseInt(dbs, 10, 64)
			if err != nil || db <= 0 {
				fail(name, "DB_MAX_CONNS %q is not a positive integer", dbs)
				continue
			}
			if _, ok := env["DATABASE_URL"]; !ok {
				fail(name, "sets DB_MAX_CONNS but no DATABASE_URL")
			}
			if ann[annWebSocket] != "true" {
				per := int64(1)
				if v, ok := ann[annConnsPerReq]; ok {
					if per, err = strconv.ParseInt(v, 10, 64); err != nil || per < 1 {
						fail(name, "%s %q is not a positive integer", annConnsPerReq, v)
						continue
					}
				}
				if cc == 0 || db != cc*per {
					fail(name, "DB_MAX_CONNS %d must equal containerConcurrency %d x %d connection(s) per request", db, cc, per)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func checkRestricted(c corev1.Container) error {
	sc := c.SecurityContext
	switch {
	case sc == nil:
		return errors.New("needs a securityContext")
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		return errors.New("securityContext.runAsNonRoot must be true")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		return errors.New("securityContext.allowPrivilegeEscalation must be false")
	case sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) > 0:
		return errors.New("securityContext.capabilities must drop ALL and add nothing")
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		return errors.New("securityContext.seccompProfile must be RuntimeDefault")
	}
	return nil
}

// CheckReferences: every Trigger, dead-letter sink and PingSource sink points at a Knative
// Service that exists, and every Trigger at a Broker that exists.
func CheckReferences(s *Set) error {
	var errs []error
	checkDest := func(owner string, d *duckv1.Destination) {
		if d == nil {
			return
		}
		if d.Ref == nil {
			errs = append(errs, fmt.Errorf("%s: destination must reference a Service (ref), not a bare URI", owner))
			return
		}
		if d.Ref.Kind != "Service" || d.Ref.APIVersion != "serving.knative.dev/v1" {
			errs = append(errs, fmt.Errorf("%s: destination %s %s is not a Knative Service", owner, d.Ref.APIVersion, d.Ref.Kind))
			return
		}
		if _, ok := s.Services[d.Ref.Name]; !ok {
			errs = append(errs, fmt.Errorf("%s: destination Service %q does not exist in knative/services", owner, d.Ref.Name))
		}
		if d.URI != nil && d.URI.URL().IsAbs() {
			errs = append(errs, fmt.Errorf("%s: destination uri %q must be a path relative to the Service", owner, d.URI))
		}
	}
	for _, name := range sortedKeys(s.Triggers) {
		t := s.Triggers[name]
		owner := "Trigger " + name
		if _, ok := s.Brokers[t.Spec.Broker]; !ok {
			errs = append(errs, fmt.Errorf("%s: broker %q does not exist in knative/eventing", owner, t.Spec.Broker))
		}
		checkDest(owner, &t.Spec.Subscriber)
		if t.Spec.Delivery == nil || t.Spec.Delivery.DeadLetterSink == nil || t.Spec.Delivery.Retry == nil {
			errs = append(errs, fmt.Errorf("%s: needs delivery.retry and delivery.deadLetterSink", owner))
		} else {
			checkDest(owner+" deadLetterSink", t.Spec.Delivery.DeadLetterSink)
		}
		if len(TriggerTypes(t)) != 1 {
			errs = append(errs, fmt.Errorf("%s: must filter on exactly one event type (one Trigger per subscription)", owner))
		}
	}
	for _, name := range sortedKeys(s.Brokers) {
		if b := s.Brokers[name]; b.Spec.Delivery != nil {
			checkDest("Broker "+name+" deadLetterSink", b.Spec.Delivery.DeadLetterSink)
		}
	}
	for _, name := range sortedKeys(s.PingSources) {
		p := s.PingSources[name]
		checkDest("PingSource "+name, &p.Spec.Sink)
	}
	return errors.Join(errs...)
}

// TriggerTypes returns the event types a Trigger accepts, from filter.attributes or from
// exact filters (top level or under all).
func TriggerTypes(t *eventingv1.Trigger) []string {
	var types []string
	if t.Spec.Filter != nil {
		if v, ok := t.Spec.Filter.Attributes["type"]; ok && v != "" {
			types = append(types, v)
		}
	}
	var walk func(fs []eventingv1.SubscriptionsAPIFilter)
	walk = func(fs []eventingv1.SubscriptionsAPIFilter) {
		for _, f := range fs {
			if v, ok := f.Exact["type"]; ok {
				types = append(types, v)
			}
			walk(f.All)
		}
	}
	walk(t.Spec.Filters)
	return types
}

// CheckRoutes: every service of shared/routes/routes.yaml has a Knative Service, and the
// gateway can reach it (it is not the gateway itself).
func CheckRoutes(root string, s *Set) error {
	data, err := os.ReadFile(filepath.Join(root, "shared/routes/routes.yaml"))
	if err != nil {
		return fmt.Errorf("read route table: %w", err)
	}
	var table struct {
		Routes []struct {
			Prefix  string `json:"prefix"`
			Service string `json:"service"`
		} `json:"routes"`
	}
	if err := sigsyaml.UnmarshalStrict(data, &table); err != nil {
		return fmt.Errorf("decode route table: %w", err)
	}
	var errs []error
	for _, r := range table.Routes {
		if _, ok := s.Services[r.Service]; !ok {
			errs = append(errs, fmt.Errorf("routes.yaml %s -> %q: no such Knative Service", r.Prefix, r.Service))
		}
		if Public[r.Service] {
			errs = append(errs, fmt.Errorf("routes.yaml %s -> %q: the gateway cannot route to itself", r.Prefix, r.Service))
		}
	}
	return errors.Join(errs...)
}

// EventCatalog is knative/events.yaml.
type EventCatalog struct {
	Events []struct {
		Type        string   `json:"type"`
		Source      string   `json:"source,omitempty"`
		Producer    string   `json:"producer"`
		Subscribers []string `json:"subscribers,omitempty"`
		External    bool     `json:"external,omitempty"`
		Direct      string   `json:"direct,omitempty"`
		Via         string   `json:"via,omitempty"`
		Note        string   `json:"note,omitempty"`
	} `json:"events"`
}

// Producers that are not Knative Services.
var outsideProducers = map[string]bool{"pingsource": true, "stations": true}

// typeLiteral matches the product's CloudEvent type literals in Go code.
var typeLiteral = regexp.MustCompile(`"(sqal\.[a-z_]+\.[a-z_]+)"`)

// CheckEvents: the catalogue, the Triggers, the PingSources and the code agree.
func CheckEvents(root string, s *Set) error {
	data, err := os.ReadFile(filepath.Join(root, "knative/events.yaml"))
	if err != nil {
		return fmt.Errorf("read event catalogue: %w", err)
	}
	var cat EventCatalog
	if err := sigsyaml.UnmarshalStrict(data, &cat); err != nil {
		return fmt.Errorf("decode knative/events.yaml: %w", err)
	}
	var errs []error
	// Who the Triggers deliver each type to.
	subscribed := map[string]map[string]bool{}
	for _, name := range sortedKeys(s.Triggers) {
		t := s.Triggers[name]
		for _, typ := range TriggerTypes(t) {
			if subscribed[typ] == nil {
				subscribed[typ] = map[string]bool{}
			}
			subscribed[typ][t.Spec.Subscriber.Ref.Name] = true
		}
	}
	pingSinks := map[string]bool{}
	for _, p := range s.PingSources {
		if p.Spec.Sink.Ref != nil {
			pingSinks[p.Spec.Sink.Ref.Name] = true
		}
	}
	listed := map[string]bool{}
	for _, e := range cat.Events {
		if listed[e.Type] {
			errs = append(errs, fmt.Errorf("events.yaml: %s listed twice", e.Type))
		}
		listed[e.Type] = true
		if _, ok := s.Services[e.Producer]; !ok && !outsideProducers[e.Producer] {
			errs = append(errs, fmt.Errorf("events.yaml: %s: producer %q is neither a Knative Service nor one of %v", e.Type, e.Producer, sortedKeys(outsideProducers)))
		}
		want := map[string]bool{}
		for _, sub := range e.Subscribers {
			want[sub] = true
		}
		got := subscribed[e.Type]
		if e.Via == "pingsource" {
			got = pingSinks
		}
		if len(want) == 0 && !e.External {
			errs = append(errs, fmt.Errorf("events.yaml: %s has no subscriber and is not marked external: true", e.Type))
		}
		if e.External && len(want) == 0 && len(got) > 0 {
			errs = append(errs, fmt.Errorf("events.yaml: %s is marked external but Triggers subscribe %v: list them", e.Type, sortedKeys(got)))
		}
		if e.Direct != "" {
			if _, ok := s.Services[e.Direct]; !ok {
				errs = append(errs, fmt.Errorf("events.yaml: %s: direct consumer %q is not a Knative Service", e.Type, e.Direct))
			}
		}
		if !sameSet(want, got) {
			errs = append(errs, fmt.Errorf("events.yaml: %s: subscribers %v, but the manifests deliver it to %v", e.Type, sortedKeys(want), sortedKeys(got)))
		}
	}
	for typ := range subscribed {
		if !listed[typ] {
			errs = append(errs, fmt.Errorf("a Trigger subscribes to %s, which knative/events.yaml does not list", typ))
		}
	}
	// Every event type literal in the Go code is in the catalogue.
	for _, dir := range []string{"functions", "shared", "tools"} {
		found, err := scanTypeLiterals(filepath.Join(root, dir))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, lit := range found {
			if !listed[lit.typ] {
				errs = append(errs, fmt.Errorf("%s: event type %q is not in knative/events.yaml", relTo(root, lit.file), lit.typ))
			}
		}
	}
	return errors.Join(errs...)
}

type literal struct{ file, typ string }

func scanTypeLiterals(dir string) ([]literal, error) {
	var out []literal
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" || d.Name() == "node_modules" || d.Name() == "manifestcheck" {
				return filepath.SkipDir // test inputs may name broken types on purpose
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
		for sc.Scan() {
			for _, m := range typeLiteral.FindAllStringSubmatch(sc.Text(), -1) {
				out = append(out, literal{path, m[1]})
			}
		}
		return sc.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s for event types: %w", dir, err)
	}
	return out, nil
}

// LocalBusTriggerFields are the Trigger fields the local event bus (make run, the cluster
// rehearsal) implements; a Trigger using anything else would behave differently on a
// laptop than in the cluster.
var LocalBusTriggerFields = []string{
	"apiVersion", "kind", "metadata", "metadata.name", "metadata.labels", "metadata.labels.*",
	"metadata.annotations", "metadata.annotations.*",
	"spec", "spec.broker",
	"spec.filter", "spec.filter.attributes", "spec.filter.attributes.*",
	"spec.filters", "spec.filters[]", "spec.filters[].**",
	"spec.subscriber", "spec.subscriber.ref", "spec.subscriber.ref.apiVersion",
	"spec.subscriber.ref.kind", "spec.subscriber.ref.name", "spec.subscriber.uri",
	"spec.delivery", "spec.delivery.retry", "spec.delivery.backoffPolicy", "spec.delivery.backoffDelay",
	"spec.delivery.timeout",
	"spec.delivery.deadLetterSink", "spec.delivery.deadLetterSink.ref",
	"spec.delivery.deadLetterSink.ref.apiVersion", "spec.delivery.deadLetterSink.ref.kind",
	"spec.delivery.deadLetterSink.ref.name", "spec.delivery.deadLetterSink.uri",
}

// CheckTriggerFieldsForLocalBus walks the raw Trigger documents and reports any field
// outside LocalBusTriggerFields.
func CheckTriggerFieldsForLocalBus(docs []Doc) error {
	allowed := map[string]bool{}
	for _, f := range LocalBusTriggerFields {
		allowed[f] = true
	}
	var errs []error
	for _, d := range docs {
		if d.Kind != "Trigger" {
			continue
		}
		var v any
		if err := sigsyaml.Unmarshal(d.Raw, &v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d, err))
			continue
		}
		for _, p := range fieldPaths("", v) {
			// The local bus implements every filter dialect but CESQL.
			if !pathAllowed(allowed, p) || strings.HasSuffix(p, ".cesql") {
				errs = append(errs, fmt.Errorf("%s: field %s is not read by the local event bus", d, p))
			}
		}
	}
	return errors.Join(errs...)
}

func fieldPaths(prefix string, v any) []string {
	var out []string
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out = append(out, p)
			out = append(out, fieldPaths(p, child)...)
		}
	case []any:
		for _, child := range t {
			out = append(out, prefix+"[]")
			out = append(out, fieldPaths(prefix+"[]", child)...)
		}
	}
	return out
}

func pathAllowed(allowed map[string]bool, p string) bool {
	if allowed[p] {
		return true
	}
	for a := range allowed {
		if strings.HasSuffix(a, ".**") && strings.HasPrefix(p, strings.TrimSuffix(a, "**")) {
			return true
		}
		// ".*" allows any key of a string map (label keys contain dots themselves).
		if strings.HasSuffix(a, ".*") && strings.HasPrefix(p, strings.TrimSuffix(a, "*")) {
			return true
		}
	}
	return false
}

// CheckDatabaseBudget: the functions' pools at full scale fit PgBouncer's client limit,
// and PgBouncer's server pools plus the migration fit PostgreSQL's max_connections.
func CheckDatabaseBudget(s *Set) error {
	ini, ok := s.ConfigMaps["pgbouncer-config"]
	if !ok {
		return errors.New("ConfigMap pgbouncer-config not found")
	}
	pgb := parseINI(ini.Data["pgbouncer.ini"])
	maxClient, err1 := strconv.Atoi(pgb["max_client_conn"])
	pool, err2 := strconv.Atoi(pgb["default_pool_size"])
	reserve, err3 := strconv.Atoi(pgb["reserve_pool_size"])
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("pgbouncer.ini: max_client_conn, default_pool_size, reserve_pool_size: %w", err)
	}
	if pgb["pool_mode"] != "transaction" {
		return fmt.Errorf("pgbouncer.ini: pool_mode %q, want transaction", pgb["pool_mode"])
	}
	pgc, ok := s.ConfigMaps["postgres-config"]
	if !ok {
		return errors.New("ConfigMap postgres-config not found")
	}
	maxConns, err1 := strconv.Atoi(pgc.Data["max_connections"])
	reserved, err2 := strconv.Atoi(pgc.Data["superuser_reserved_connections"])
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("postgres-config: %w", err)
	}
	var errs []error
	total := 0
	for _, name := range sortedKeys(s.Services) {
		svc := s.Services[name]
		env := envMap(svc.Spec.Template.Spec.Containers[0].Env)
		db, _ := strconv.Atoi(env["DB_MAX_CONNS"])
		maxScale, _ := strconv.Atoi(svc.Spec.Template.Annotations[autoscaling.MaxScaleAnnotationKey])
		total += db * maxScale
	}
	if total > maxClient {
		errs = append(errs, fmt.Errorf("sum of max-scale x DB_MAX_CONNS is %d, above PgBouncer max_client_conn %d", total, maxClient))
	}
	const migrateConns = 2 // goose: one session plus its lock
	if server := pool + reserve + migrateConns; server > maxConns-reserved {
		errs = append(errs, fmt.Errorf("PgBouncer pools (%d+%d) + migration (%d) = %d exceed PostgreSQL max_connections %d - %d reserved",
			pool, reserve, migrateConns, server, maxConns, reserved))
	}
	return errors.Join(errs...)
}

func parseINI(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, ";") || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// CheckSecretsAreTemplates: Secrets are committed only as templates, whose every value
// is, or contains, a ${PLACEHOLDER} or a fixed non-secret (user and database names).
func CheckSecretsAreTemplates(s *Set) error {
	var errs []error
	for _, name := range sortedKeys(s.Secrets) {
		file := s.Files["Secret/"+name]
		if !strings.HasPrefix(file, "k8s/secrets/") || !strings.HasSuffix(file, ".example.yaml") {
			errs = append(errs, fmt.Errorf("Secret %s in %s: real Secrets are not committed; templates are k8s/secrets/*.example.yaml", name, file))
		}
		sec := s.Secrets[name]
		if len(sec.Data) > 0 {
			errs = append(errs, fmt.Errorf("Secret %s: use stringData with placeholders, not data", name))
		}
		for k, v := range sec.StringData {
			secretish := regexp.MustCompile(`(?i)password|secret|url|userlist|token`).MatchString(k)
			if secretish && !strings.Contains(v, "${") {
				errs = append(errs, fmt.Errorf("Secret %s: %s holds a literal value; use a ${PLACEHOLDER}", name, k))
			}
		}
	}
	return errors.Join(errs...)
}

// CheckImages: third-party images are named without a registry host (Docker Hub names),
// product images are ko:// import paths, and nothing uses a mutable latest tag.
func CheckImages(s *Set) error {
	var errs []error
	check := func(owner, image string) {
		if strings.HasPrefix(image, "ko://") {
			if !strings.HasPrefix(image, "ko://"+ModulePrefix+"/") {
				errs = append(errs, fmt.Errorf("%s: ko image %q outside %s", owner, image, ModulePrefix))
			}
			return
		}
		first, _, hasSlash := strings.Cut(image, "/")
		if hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost") {
			errs = append(errs, fmt.Errorf("%s: image %q names a registry host", owner, image))
		}
		if !strings.Contains(image, ":") || strings.HasSuffix(image, ":latest") {
			errs = append(errs, fmt.Errorf("%s: image %q needs a pinned tag", owner, image))
		}
	}
	for _, o := range s.Objects {
		for _, c := range podContainers(o.Value) {
			check(o.String(), c.Image)
		}
	}
	return errors.Join(errs...)
}

func podContainers(v any) []corev1.Container {
	var spec *corev1.PodSpec
	switch t := v.(type) {
	case *servingv1.Service:
		spec = &t.Spec.Template.Spec.PodSpec
	default:
		spec = podSpecOf(v)
	}
	if spec == nil {
		return nil
	}
	return append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
}

func envMap(env []corev1.EnvVar) map[string]string {
	m := map[string]string{}
	for _, e := range env {
		m[e.Name] = e.Value
	}
	return m
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func relTo(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil {
		return filepath.ToSlash(r)
	}
	return path
}
