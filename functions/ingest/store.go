package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/tenant"
)

// Store persists samples: device upsert, sample row and its sqal.sample.stored outbox
// event in ONE transaction (contract §1.7 steps 2-3), sent as ONE pipelined batch: a
// round trip costs both processes ~0.1 ms of CPU on a loaded machine, as much as a
// quarter of what PostgreSQL spends on a full sample (bench-ingest).
//
// Group commit: a few workers each take whatever samples are waiting (from any
// connection) and commit them together, so under load one WAL flush and a handful of
// round trips serve many samples, while an idle system commits a lone sample at once
// (nothing ever waits for a batch to fill). If a group fails, its samples are retried
// one by one so that one bad row cannot fail its neighbours.
//
// A group mixes samples of several organisations, so its transaction runs in the
// cross-organisation scope (crossOrganization) and names organization_id on every
// sample and device row and the organisation on every event itself (tenancy.go).
type Store struct {
	db       DB
	log      *slog.Logger
	maxBatch int
	timeout  time.Duration
	reqs     chan *storeReq
	wg       sync.WaitGroup
	inserts  []string // inserts[n]: the INSERT of n samples
	onStored func(n int)
	// onCommit observes every transaction: its samples, duration and error.
	onCommit func(n int, d time.Duration, err error)
}

// Pending is a sample prepared for storage (all CPU work done by the caller's goroutine).
type Pending struct {
	Sample *sample.Sample
	Row    []any
	Outbox events.OutboxRow // its sqal.sample.stored event
	Org    string           // organisation of the sample's device (written as organization_id)
	raw    []byte           // raw_message buffer (pooled)
}

// Result of storing one sample: Status is StatusSaved or StatusDuplicate when Err is nil.
type Result struct {
	Status string
	Err    error
}

// replyStatus is the status label of the reply metric: saved, duplicate or error.
func (r Result) replyStatus() string {
	switch {
	case r.Err != nil:
		return replyError
	case r.Status == StatusDuplicate:
		return replyDuplicate
	}
	return replySaved
}

type storeReq struct {
	p    *Pending
	ctx  context.Context
	done chan Result
}

// ErrStorage wraps every persistence failure; replies say "storage failure: ...".
var ErrStorage = errors.New("storage failure")

// NewStore starts workers committing groups of at most maxBatch samples. The workers
// stop when ctx ends (pending requests then fail).
func NewStore(ctx context.Context, db DB, log *slog.Logger, workers, maxBatch int, timeout time.Duration) *Store {
	st := &Store{
		db: db, log: log, maxBatch: max(1, maxBatch), timeout: timeout,
		reqs:    make(chan *storeReq, 4*max(1, maxBatch)),
		inserts: make([]string, max(1, maxBatch)+1),
	}
	for n := 1; n <= st.maxBatch; n++ {
		st.inserts[n] = insertSQL(n)
	}
	for range max(1, workers) {
		st.wg.Add(1)
		go st.work(ctx)
	}
	return st
}

// insertSQL is the statement that stores a group of n samples and their events. One
// statement per group, not one per sample: statement-level triggers on sensor_samples
// (the hourly rollup of migration 00040 upserts hot rows) then fire once per group and
// lock their rows in one sorted order, so concurrent groups neither deadlock nor pay
// the rollup n times. Its outbox part writes the event of each sample the INSERT wrote
// (event id = sample_id), none for a duplicate, so the whole commit needs no answer
// from the database before it is sent. Each row's values are Pending.Row, its
// organization_id, then its outbox row (events.OutboxColumns). It returns the
// sample_id of every row written.
func insertSQL(n int) string {
	cols := make([]string, len(sample.Columns))
	for i, c := range sample.Columns {
		cols[i] = `"` + c + `"`
	}
	codeLot := slices.Index(sample.Columns, "code_lot")
	var b, ob strings.Builder
	b.WriteString("WITH ins AS (INSERT INTO sensor_samples (" + strings.Join(cols, ", ") + ", organization_id) VALUES ")
	for r := range n {
		if r > 0 {
			b.WriteString(", ")
			ob.WriteString(", ")
		}
		b.WriteByte('(')
		base := r * rowParams
		for i, c := range sample.Columns {
			if i > 0 {
				b.WriteString(", ")
			}
			if c == "lot_id" {
				// Lot resolution (§1.7): the frame's lot_id, else the lot whose code_lot
				// the device sent (demo branch). lots_gavage exists from migration 00042 on.
				fmt.Fprintf(&b, "COALESCE($%d::integer, (SELECT id FROM lots_gavage WHERE code_lot = $%d::varchar))", base+i+1, base+codeLot+1)
				continue
			}
			fmt.Fprintf(&b, "$%d", base+i+1)
		}
		o := base + len(sample.Columns) + 1
		fmt.Fprintf(&b, ", $%d::uuid)", o)
		fmt.Fprintf(&ob, "($%d::text, $%d::text, $%d::text, $%d::text, $%d::bytea, $%d::jsonb)", o+1, o+2, o+3, o+4, o+5, o+6)
	}
	b.WriteString(" ON CONFLICT (sample_id) DO NOTHING RETURNING sample_id),\n")
	b.WriteString("ob AS (INSERT INTO event_outbox (" + events.OutboxColumns + ")\n")
	b.WriteString("    SELECT * FROM (VALUES " + ob.String() + ") AS e(" + events.OutboxColumns + ")\n")
	b.WriteString("    WHERE e.event_id IN (SELECT sample_id FROM ins)\n")
	b.WriteString("    ON CONFLICT (source, event_id) DO NOTHING)\n")
	b.WriteString("SELECT sample_id FROM ins")
	return b.String()
}

// rowParams is the number of statement parameters per sample in insertSQL.
var rowParams = len(sample.Columns) + 1 + 6

// Wait blocks until the workers have stopped (after the NewStore context ended).
func (st *Store) Wait() { st.wg.Wait() }

// Submit queues p and returns the channel its result arrives on (buffered, exactly one).
func (st *Store) Submit(ctx context.Context, p *Pending) <-chan Result {
	r := &storeReq{p: p, ctx: ctx, done: make(chan Result, 1)}
	select {
	case st.reqs <- r:
	case <-ctx.Done():
		r.done <- Result{Err: fmt.Errorf("%w: %v", ErrStorage, ctx.Err())}
	}
	return r.done
}

// Save is Submit and wait.
func (st *Store) Save(ctx context.Context, p *Pending) Result {
	select {
	case r := <-st.Submit(ctx, p):
		return r
	case <-ctx.Done():
		return Result{Err: fmt.Errorf("%w: %v", ErrStorage, ctx.Err())}
	}
}

func (st *Store) work(ctx context.Context) {
	defer st.wg.Done()
	batch := make([]*storeReq, 0, st.maxBatch)
	for {
		select {
		case <-ctx.Done():
			st.drain(ctx.Err())
			return
		case r := <-st.reqs:
			batch = append(batch[:0], r)
		}
	fill:
		for len(batch) < st.maxBatch {
			select {
			case r := <-st.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		st.commitGroup(ctx, batch)
		clear(batch) // drop references to the frames
	}
}

func (st *Store) drain(err error) {
	for {
		select {
		case r := <-st.reqs:
			r.done <- Result{Err: fmt.Errorf("%w: shutting down: %v", ErrStorage, err)}
		default:
			return
		}
	}
}

func (st *Store) commitGroup(ctx context.Context, batch []*storeReq) {
	// Requests whose client went away are skipped: nothing will read their result.
	live := batch[:0:0]
	for _, r := range batch {
		if r.ctx.Err() != nil {
			r.done <- Result{Err: fmt.Errorf("%w: %v", ErrStorage, r.ctx.Err())}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	statuses, err := st.commit(ctx, live)
	if err == nil {
		for i, r := range live {
			r.done <- Result{Status: statuses[i]}
		}
		return
	}
	if len(live) == 1 {
		live[0].done <- Result{Err: err}
		return
	}
	st.log.Warn("group commit failed, retrying samples one by one", "samples", len(live), "err", err)
	for _, r := range live {
		s, err := st.commit(ctx, []*storeReq{r})
		if err != nil {
			r.done <- Result{Err: err}
			continue
		}
		r.done <- Result{Status: s[0]}
	}
}

// upsertDeviceSQL registers a new device in the sample's organisation, or updates the
// device of that organisation; it never touches a device of another organisation (the
// statement runs in the cross-organisation scope; a device moved meanwhile is only
// updated again once the organisation cache has expired).
const upsertDeviceSQL = `
INSERT INTO sqal_devices AS d (device_id, device_name, firmware_version, site_code, status, config_profile, last_seen, organization_id)
VALUES ($1, $1, $2, (SELECT code FROM sites_euralis WHERE code = $3), 'active', $4, $5, $6::uuid)
ON CONFLICT (device_id) DO UPDATE SET
    firmware_version = COALESCE(EXCLUDED.firmware_version, d.firmware_version),
    site_code        = COALESCE(EXCLUDED.site_code, d.site_code),
    config_profile   = COALESCE(EXCLUDED.config_profile, d.config_profile),
    status           = 'active',
    last_seen        = GREATEST(d.last_seen, EXCLUDED.last_seen),
    updated_at       = now()
WHERE d.organization_id = EXCLUDED.organization_id`

// deviceRow is the device upsert of a group: one per device, with the newest sample's
// attributes and the latest sample time.
type deviceRow struct {
	id, firmware, site, profile *string
	lastSeen                    time.Time
	org                         string
}

func (st *Store) commit(ctx context.Context, group []*storeReq) (statuses []string, err error) {
	if st.onCommit != nil {
		defer func(start time.Time) { st.onCommit(len(group), time.Since(start), err) }(time.Now())
	}
	// A transaction already started completes even during shutdown (bounded by the
	// timeout), so its sample can still be acknowledged. Cross-organisation scope: see
	// Store.
	ctx, cancel := context.WithTimeout(crossOrganization(context.WithoutCancel(ctx)), st.timeout)
	defer cancel()
	fail := func(what string, err error) ([]string, error) {
		return nil, fmt.Errorf("%w: %s: %v", ErrStorage, what, err)
	}

	devices := map[string]*deviceRow{}
	for _, r := range group {
		s := r.p.Sample
		d := devices[s.DeviceID]
		if d == nil {
			d = &deviceRow{id: &s.DeviceID}
			devices[s.DeviceID] = d
		}
		if d.lastSeen.IsZero() || !s.Timestamp.Before(d.lastSeen) {
			d.lastSeen = s.Timestamp
			d.firmware = truncated(s.FirmwareVersion, 20)
			d.site = s.SiteCode
			d.profile = truncated(s.ConfigProfile, 50)
			d.org = r.p.Org
		}
	}
	// A fixed lock order across workers: no deadlock between concurrent groups.
	ids := make([]string, 0, len(devices))
	for id := range devices {
		ids = append(ids, id)
	}
	slices.Sort(ids)

	// Statement order and lock order: one statement for the group's samples and events
	// (rows in sample_id order, so two instances storing the same replayed samples take
	// the unique-index locks in the same order; group is sorted in place and the caller
	// reads statuses by the same indexes), then the device upserts in device_id order,
	// last, so the device rows every sample updates stay locked only briefly. The batch
	// is one implicit transaction (database.DB.SendBatch): it commits at its end, and a
	// failed statement rolls all of it back.
	slices.SortStableFunc(group, func(a, b *storeReq) int { return strings.Compare(a.p.Sample.SampleID, b.p.Sample.SampleID) })
	args := make([]any, 0, len(group)*rowParams)
	seen := make(map[string]bool, len(group))
	for _, r := range group {
		args = append(args, r.p.Row...)
		args = append(args, r.p.Org)
		if id := r.p.Sample.SampleID; !seen[id] {
			seen[id] = true
			args = append(args, r.p.Outbox.Args()...)
		} else {
			// A sample repeated in the group: the first one's event is the one written.
			args = append(args, nil, nil, nil, nil, nil, nil)
		}
	}
	b := &pgx.Batch{}
	b.Queue(st.inserts[len(group)], args...)
	for _, id := range ids {
		d := devices[id]
		b.Queue(upsertDeviceSQL, d.id, d.firmware, d.site, d.profile, d.lastSeen, d.org)
	}
	br := st.db.SendBatch(ctx, b)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return fail("insert samples", err)
	}
	inserted := make(map[string]bool, len(group))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fail("insert samples", err)
		}
		inserted[id] = true
	}
	if err := rows.Err(); err != nil {
		return fail("insert samples", err)
	}
	for range ids {
		if _, err := br.Exec(); err != nil {
			return fail("upsert device", err)
		}
	}
	// Close reads the end of the batch: only then is the transaction committed.
	if err := br.Close(); err != nil {
		return fail("commit", err)
	}
	// RETURNING lists the rows written: the first of a sample_id in the group is saved,
	// anything else (already stored, or repeated in the group) is a duplicate — first
	// write wins, no event (§1.7 step 3a).
	statuses = make([]string, len(group))
	for i, r := range group {
		id := r.p.Sample.SampleID
		if inserted[id] {
			statuses[i] = StatusSaved
			inserted[id] = false
		} else {
			statuses[i] = StatusDuplicate
		}
	}
	if st.onStored != nil {
		n := 0
		for _, s := range statuses {
			if s == StatusSaved {
				n++
			}
		}
		st.onStored(n)
	}
	return statuses, nil
}

func truncated(s *string, n int) *string {
	if s == nil || len(*s) <= n {
		return s
	}
	r := []rune(*s)
	if len(r) <= n {
		return s
	}
	t := string(r[:n])
	return &t
}

// newStoredEvent is the outbox event of a stored sample: id = sample_id (stable across
// retries and instances), data = sample.StoredEvent with the sensor_update.
func newStoredEvent(ctx context.Context, s *sample.Sample) (cloudevents.Event, error) {
	update, err := s.UpdateJSON()
	if err != nil {
		return cloudevents.Event{}, err
	}
	data, err := s.EventJSON(update)
	if err != nil {
		return cloudevents.Event{}, err
	}
	e := cloudevents.NewEvent()
	e.SetID(s.SampleID)
	e.SetSource(sample.Source)
	e.SetType(sample.TypeStored)
	e.SetSubject(s.DeviceID)
	e.SetTime(time.Now())
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil { // []byte: stored as is
		return cloudevents.Event{}, fmt.Errorf("event data %s: %w", s.SampleID, err)
	}
	events.WithTraceContext(ctx, &e)
	return e, nil
}

// touchDeviceSQL: like upsertDeviceSQL, for one device.
const touchDeviceSQL = `
INSERT INTO sqal_devices AS d (device_id, device_name, firmware_version, site_code, status, last_seen, metadata, organization_id)
VALUES ($1, $1, $2, (SELECT code FROM sites_euralis WHERE code = $3), 'active', $4, jsonb_build_object($5::text, $6::jsonb), $7::uuid)
ON CONFLICT (device_id) DO UPDATE SET
    firmware_version = COALESCE(EXCLUDED.firmware_version, d.firmware_version),
    site_code        = COALESCE(EXCLUDED.site_code, d.site_code),
    status           = 'active',
    last_seen        = GREATEST(d.last_seen, EXCLUDED.last_seen),
    metadata         = COALESCE(d.metadata, '{}'::jsonb) || EXCLUDED.metadata,
    updated_at       = now()
WHERE d.organization_id = EXCLUDED.organization_id`

// TouchDevice upserts the device of an esp32_hello or heartbeat frame (kind "hello" or
// "heartbeat") in organisation org: last_seen = frame timestamp else server time (never
// backwards), the frame itself in metadata.<kind>, and for a hello its firmware_version
// (§1.7, §2.2).
func (st *Store) TouchDevice(ctx context.Context, f *sample.Frame, kind, org string) error {
	id, ok := f.DeviceID()
	if !ok {
		return nil
	}
	if len([]rune(id)) > 100 {
		return fmt.Errorf("device %s: device_id longer than 100 characters", kind)
	}
	seen, ok := f.Timestamp()
	if !ok {
		seen = time.Now()
	}
	var firmware *string
	if kind == "hello" {
		if fw, ok := f.FirmwareVersion(); ok {
			firmware = truncated(&fw, 20)
		}
	}
	var site *string
	if code, ok := sample.DeriveSite(id); ok {
		site = &code
	}
	// The frame goes to a jsonb column as text (exec mode sends []byte as bytea).
	var frame *string
	if !strings.Contains(string(f.JSON), `\u0000`) { // jsonb cannot hold NUL
		js := string(f.JSON)
		frame = &js
	}
	// One device, one organisation: the statement runs in that organisation's scope, so
	// row-level security checks the row it writes too.
	if _, err := st.db.Exec(tenant.With(ctx, tenant.Org(org)), touchDeviceSQL, id, firmware, site, seen, kind, frame, org); err != nil {
		return fmt.Errorf("upsert device %s (%s): %w", id, kind, err)
	}
	return nil
}
