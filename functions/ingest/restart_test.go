package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/localstack"
	"github.com/sqalfn/sqal/shared/migrate"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
)

// TestPostgresRestartLosesNothingAcked (issue 3 item 6): PostgreSQL is stopped in the
// middle of a stream from several stations and started again on the same data and
// port. The stations get "storage failure" error replies while it is down and send
// those samples again; ingest itself is not restarted (its pool reconnects). Every
// sample a station saw acknowledged is stored exactly once, with one outbox event.
//
// The test runs its own server (not the shared test server: other packages' tests use
// that one at the same time) and keeps it durable, as in production.
func TestPostgresRestartLosesNothingAcked(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and restarts a PostgreSQL server of its own")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The postgres account must reach the folder when the test runs as root: a folder
	// of the system temporary directory, not t.TempDir (whose parents are private).
	dir, err := os.MkdirTemp("", "sqal-ingest-restart-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	opts := localstack.PostgresOptions{Dir: dir, Durable: true, MaxConnections: 50}
	pg, err := localstack.StartPostgres(ctx, opts)
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	t.Cleanup(func() { // pg is the running server then (nil when a restart failed)
		if err := pg.Stop(); err != nil {
			t.Logf("stop postgres: %v", err)
		}
	})
	opts.Port = pg.Port // restarts use the same port: the pool's URL does not change
	if err := migrate.Up(ctx, pg.URL()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	cfg, err := pgxpool.ParseConfig(pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 8
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	h := newHarness(t, db, map[string]string{"INGEST_STORE_TIMEOUT": "3s"})
	url := "ws" + strings.TrimPrefix(h.srv.URL, "http") + "/ws/sensors/"

	base := fixtures.Load(t, fixtures.Minimal)
	stations := make([]*restartStation, 3)
	for i := range stations {
		dev := []string{"ESP32_LL_01", "ESP32_LS_02", "ESP32_MT_03"}[i]
		stations[i] = &restartStation{url: url, device: dev, base: base, prefix: fmt.Sprintf("RS%d-", i),
			frames: map[string][]byte{}, acked: map[string]string{}, interval: 50 * time.Millisecond, window: 4}
	}
	producing := make(chan struct{}) // closed: stop producing new samples, finish the rest
	errs := make(chan error, len(stations))
	for _, s := range stations {
		go func() { errs <- s.run(ctx, producing) }()
	}
	stopProducing := sync.OnceFunc(func() { close(producing) })
	defer stopProducing()

	totalAcked := func() int64 {
		var n int64
		for _, s := range stations {
			n += s.ackCount.Load()
		}
		return n
	}
	storageErrors := func() int64 {
		var n int64
		for _, s := range stations {
			n += s.storageErrors.Load()
		}
		return n
	}
	// waitFor polls cond; the limits are generous (a loaded 2-core machine), they are
	// not what the test measures.
	waitFor := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %s waiting for %s (acked %d, storage errors %d)", limit, what, totalAcked(), storageErrors())
			}
			select {
			case err := <-errs:
				t.Fatalf("a station stopped while waiting for %s: %v", what, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	waitFor("acks before the outage", 30*time.Second, func() bool { return totalAcked() >= 30 })
	if err := pg.Stop(); err != nil {
		t.Fatalf("stop postgres: %v", err)
	}
	down := time.Now()
	errsBefore := storageErrors()
	waitFor("storage failures during the outage", 30*time.Second, func() bool { return storageErrors() > errsBefore })
	if d := 1500*time.Millisecond - time.Since(down); d > 0 {
		time.Sleep(d) // keep the outage going a little while the stations retry
	}
	ackedAtRestart, connsAtRestart := totalAcked(), db.Stat().NewConnsCount()
	if pg, err = startAgain(ctx, opts); err != nil {
		t.Fatalf("restart postgres on port %d: %v", opts.Port, err)
	}
	t.Logf("postgres down %s; %d storage failure replies so far", time.Since(down).Round(time.Millisecond), storageErrors())

	// The same ingest instance stores again once its pool reconnects.
	waitFor("acks after the restart", 30*time.Second, func() bool { return totalAcked() >= ackedAtRestart+30 })
	if n := db.Stat().NewConnsCount() - connsAtRestart; n == 0 {
		t.Errorf("the pool opened no connection after the restart, yet samples were stored")
	}
	stopProducing()
	for range stations {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatal("stations did not finish")
		}
	}

	acked := map[string]bool{}
	var saved, dups, resent int
	for _, s := range stations {
		for id, status := range s.acked {
			acked[id] = true
			if status == StatusDuplicate {
				dups++
			} else {
				saved++
			}
		}
		resent += int(s.resent.Load())
		if s.sent != len(s.acked) {
			t.Errorf("station %s: %d samples produced, %d acknowledged", s.device, s.sent, len(s.acked))
		}
	}
	t.Logf("%d samples acknowledged (%d saved, %d duplicate), %d resent, %d storage failure replies",
		len(acked), saved, dups, resent, storageErrors())
	if storageErrors() == 0 || resent == 0 {
		t.Errorf("the stations saw %d storage failures and resent %d samples: the outage was not observed", storageErrors(), resent)
	}
	ids := make([]string, 0, len(acked))
	for id := range acked {
		ids = append(ids, id)
	}
	var rows, distinct, events, total int
	if err := db.QueryRow(ctx, `SELECT count(*), count(DISTINCT sample_id),
		(SELECT count(*) FROM event_outbox WHERE event_id = ANY($1)), (SELECT count(*) FROM sensor_samples)
		FROM sensor_samples WHERE sample_id = ANY($1)`, ids).Scan(&rows, &distinct, &events, &total); err != nil {
		t.Fatal(err)
	}
	if rows != len(ids) || distinct != len(ids) {
		t.Errorf("acknowledged samples: %d, rows for them: %d (%d distinct)", len(ids), rows, distinct)
		missing, err := missingSamples(ctx, db, ids)
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("acknowledged but not stored: %v", missing)
	}
	if events != len(ids) {
		t.Errorf("outbox events for the acknowledged samples = %d, want %d", events, len(ids))
	}
	if total != len(ids) {
		t.Errorf("sensor_samples holds %d rows, the stations sent %d samples", total, len(ids))
	}
}

// startAgain starts the server on its folder and port again. The port was free a
// moment ago; another process could grab it meanwhile, so a failed start is retried
// for a little while before giving up.
func startAgain(ctx context.Context, opts localstack.PostgresOptions) (*localstack.Postgres, error) {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var pg *localstack.Postgres
		if pg, err = localstack.StartPostgres(ctx, opts); err == nil {
			return pg, nil
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(err, ctx.Err())
		case <-time.After(time.Second):
		}
	}
	return nil, err
}

func missingSamples(ctx context.Context, db *pgxpool.Pool, ids []string) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT id FROM unnest($1::text[]) AS id
		WHERE NOT EXISTS (SELECT 1 FROM sensor_samples WHERE sample_id = id) ORDER BY id`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// restartStation is a minimal station: it streams samples over /ws/sensors/ with a few
// unacknowledged in flight, sends again every sample answered with a storage failure
// (after a short delay) or left unacknowledged by a lost connection, and reconnects
// when the connection drops. (tools/simulator/station requires this module, so it
// cannot be imported here.)
type restartStation struct {
	url, device, prefix string
	base                []byte
	interval            time.Duration // between new samples
	window              int           // samples in flight

	ackCount, storageErrors, resent atomic.Int64

	// Owned by run's goroutine; read by the test after run returned.
	sent   int               // samples produced
	frames map[string][]byte // by sample_id
	acked  map[string]string // sample_id -> "saved" | "duplicate"
}

type retryItem struct {
	id  string
	due time.Time
}

func (s *restartStation) frame(id string) []byte {
	b := withID(s.base, id)
	return bytes.Replace(b, []byte(`"ESP32_LL_01"`), []byte(`"`+s.device+`"`), 1)
}

// run streams until producing is closed and every sample produced is acknowledged.
func (s *restartStation) run(ctx context.Context, producing <-chan struct{}) error {
	var (
		conn     *websocket.Conn
		inflight []string    // sent on conn, replies expected in this order
		retry    []retryItem // to send again, oldest first
		next     = time.Now()
	)
	defer func() {
		if conn != nil {
			conn.CloseNow()
		}
	}()
	dropConn := func() {
		conn.CloseNow()
		conn = nil
		// Unanswered samples are sent again on the next connection, before the retries.
		now := time.Now()
		items := make([]retryItem, 0, len(inflight)+len(retry))
		for _, id := range inflight {
			items = append(items, retryItem{id: id, due: now})
		}
		retry = append(items, retry...)
		inflight = inflight[:0]
	}
	stopped := func() bool {
		select {
		case <-producing:
			return true
		default:
			return false
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("station %s: %w (%d in flight, %d to resend)", s.device, err, len(inflight), len(retry))
		}
		if stopped() && len(inflight) == 0 && len(retry) == 0 {
			return nil
		}
		if conn == nil {
			c, err := s.dial(ctx)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			conn = c
		}
		// Fill the window: due retries first, then a new sample when one is due.
	fill:
		for conn != nil && len(inflight) < s.window {
			var id string
			now := time.Now()
			switch {
			case len(retry) > 0 && !retry[0].due.After(now):
				id = retry[0].id
				retry = retry[1:]
				s.resent.Add(1)
			case !stopped() && !next.After(now):
				id = fmt.Sprintf("%s%05d", s.prefix, s.sent)
				s.sent++
				s.frames[id] = s.frame(id)
				next = now.Add(s.interval)
			default:
				break fill
			}
			inflight = append(inflight, id)
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Write(wctx, websocket.MessageText, s.frames[id])
			cancel()
			if err != nil {
				dropConn()
			}
		}
		if conn == nil {
			continue
		}
		if len(inflight) == 0 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		// A reply comes after the sample's transaction ended (store timeout 3 s).
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		_, b, err := conn.Read(rctx)
		cancel()
		if err != nil {
			dropConn()
			continue
		}
		var m struct {
			Type     string `json:"type"`
			SampleID string `json:"sample_id"`
			Status   string `json:"status"`
			Error    string `json:"error"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("station %s: reply is not JSON: %.200s", s.device, b)
		}
		head := inflight[0]
		inflight = inflight[1:]
		switch {
		case m.Type == "ack" && m.SampleID == head && (m.Status == StatusSaved || m.Status == StatusDuplicate):
			if _, ok := s.acked[head]; !ok {
				s.acked[head] = m.Status
				s.ackCount.Add(1)
			}
		case m.Type == "error" && strings.HasPrefix(m.Error, "storage failure"):
			s.storageErrors.Add(1)
			retry = append(retry, retryItem{id: head, due: time.Now().Add(100 * time.Millisecond)})
		default:
			return fmt.Errorf("station %s: reply to %s: %.300s", s.device, head, b)
		}
	}
}

func (s *restartStation) dial(ctx context.Context) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, s.url, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	if _, b, err := c.Read(dctx); err != nil || !bytes.Contains(b, []byte(`"connection_established"`)) {
		c.CloseNow()
		return nil, fmt.Errorf("no connection_established: %v %.100s", err, b)
	}
	return c, nil
}
