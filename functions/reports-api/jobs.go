package reportsapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/tenant"
)

// jobRunner generates reports in the background of the instance that accepted them.
//
// The job's state lives in the reports row, so it survives the process:
//   - a job is claimed by one atomic UPDATE pending -> generating, so instances that
//     race for it (a restart re-queues pending jobs) never generate it twice;
//   - the file and the "completed" status are written in one transaction;
//   - when an instance stops mid-job, the job stays "generating" past
//     REPORTS_GENERATION_TIMEOUT and is then marked failed (by the next instance start,
//     or the next list read) — interrupted jobs are failed, not re-run, since the
//     request may have been what killed the instance; jobs still pending are re-run.
//
// Jobs run without a request: the runner's bookkeeping (claiming, settling, finding
// pending jobs and due schedules) spans organisations and runs in the
// cross-organisation scope (systemScope); a claimed report is rendered and stored in
// the scope of its own organisation, so it reads that organisation's samples only.
type jobRunner struct {
	db     *database.DB
	cfg    Config
	logger *slog.Logger
	now    func() time.Time
	sem    chan struct{}
	// stop is the process context: once it is done (SIGTERM) no job starts, so the
	// jobs still waiting stay pending for the next instance. A job already running is
	// not cancelled by it (nor by its request): it finishes if the process lives long
	// enough, else it is settled as interrupted.
	stop context.Context
	wg   sync.WaitGroup
}

// systemScope is the scope of the runner's own work on every organisation's jobs.
func systemScope(ctx context.Context) context.Context { return tenant.With(ctx, tenant.All()) }

func newJobRunner(db *database.DB, cfg Config, logger *slog.Logger, now func() time.Time) *jobRunner {
	return &jobRunner{db: db, cfg: cfg, logger: logger, now: now,
		sem: make(chan struct{}, max(cfg.MaxConcurrentReports, 1)), stop: context.Background()}
}

// submit runs the job in the background once a slot is free.
func (j *jobRunner) submit(id uuid.UUID) {
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		select {
		case j.sem <- struct{}{}:
		case <-j.stop.Done():
			return // the job stays pending; the next instance re-queues it
		}
		if j.stop.Err() != nil {
			<-j.sem
			return
		}
		defer func() { <-j.sem }()
		j.run(id)
	}()
}

// wait blocks until every submitted job has finished (tests, shutdown).
func (j *jobRunner) wait() { j.wg.Wait() }

// resume settles the jobs a stopped instance left: stale "generating" jobs fail,
// pending jobs are submitted again, and schedules that came due meanwhile run.
func (j *jobRunner) resume(ctx context.Context) error {
	ctx = systemScope(ctx) // an instance starting settles every organisation's jobs
	if err := j.failStale(ctx); err != nil {
		return err
	}
	rows, err := j.db.Query(ctx, `SELECT id FROM reports WHERE status = 'pending' ORDER BY created_at`)
	if err != nil {
		return fmt.Errorf("list pending reports: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return fmt.Errorf("list pending reports: %w", err)
	}
	for _, id := range ids {
		j.submit(id)
	}
	if len(ids) > 0 {
		j.logger.InfoContext(ctx, "re-queued pending reports", "count", len(ids))
	}
	if n, err := j.runDue(ctx); err != nil {
		return err
	} else if n > 0 {
		j.logger.InfoContext(ctx, "scheduled reports started", "count", n)
	}
	return nil
}

// failStale marks failed the jobs generating for longer than the generation timeout
// (their instance is gone: a live one would have finished or timed out by now), among
// the jobs the scope of ctx sees.
func (j *jobRunner) failStale(ctx context.Context) error {
	now := j.now()
	tag, err := j.db.Exec(ctx, `UPDATE reports SET status = 'failed', completed_at = $1,
		error_message = 'Generation interrupted: the instance generating this report stopped; request it again'
	WHERE status = 'generating' AND started_at < $2`, now, now.Add(-j.cfg.GenerationTimeout))
	if err != nil {
		return fmt.Errorf("fail stale reports: %w", err)
	}
	if n := tag.RowsAffected(); n > 0 {
		j.logger.WarnContext(ctx, "marked interrupted reports failed", "count", n)
	}
	return nil
}

// job is a claimed report.
type job struct {
	ID           uuid.UUID
	Organization string // the report's: what it is rendered from and stored in
	Title        string
	ReportType   string
	Format       string
	Start, End   time.Time
	CreatedAt    time.Time
}

// run claims and generates one report; any failure ends as status "failed" with the
// reason, never as a job stuck in "generating".
func (j *jobRunner) run(id uuid.UUID) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(j.stop), j.cfg.GenerationTimeout)
	defer cancel()
	// The job is known by its id only: claim it across organisations, then work in its
	// organisation's scope.
	jb, ok, err := j.claim(systemScope(ctx), id)
	if err != nil {
		j.logger.ErrorContext(ctx, "claim report", "report", id, "error", err)
		return
	}
	if !ok {
		return // taken by another instance, deleted, or given up
	}
	ctx = tenant.With(ctx, tenant.Org(jb.Organization))
	var f file
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		f, err = render(ctx, j.db, jb, j.cfg.MaxReportRows, j.now())
	}()
	if err == nil {
		err = j.complete(ctx, jb, f)
	}
	if err != nil {
		j.logger.ErrorContext(ctx, "generate report", "report", id, "format", jb.Format, "error", err)
		j.failJob(id, err)
		return
	}
	j.logger.InfoContext(ctx, "report generated", "report", id, "format", jb.Format, "bytes", len(f.Content), "rows", f.Rows)
}

// claim moves a pending job to generating; ok is false when it is not pending.
func (j *jobRunner) claim(ctx context.Context, id uuid.UUID) (job, bool, error) {
	jb := job{ID: id}
	err := j.db.QueryRow(ctx, `UPDATE reports SET status = 'generating', started_at = $2, attempts = attempts + 1
	WHERE id = $1 AND status = 'pending'
	RETURNING title, report_type, format, COALESCE(start_date, created_at - interval '7 days'),
		COALESCE(end_date, created_at), created_at, organization_id::text`, id, j.now()).
		Scan(&jb.Title, &jb.ReportType, &jb.Format, &jb.Start, &jb.End, &jb.CreatedAt, &jb.Organization)
	if errors.Is(err, pgx.ErrNoRows) {
		return job{}, false, nil
	}
	if err != nil {
		return job{}, false, fmt.Errorf("claim report %s: %w", id, err)
	}
	return jb, true, nil
}

// complete stores the file and marks the job completed, in one transaction, in the
// scope of the report's organisation (ctx).
func (j *jobRunner) complete(ctx context.Context, jb job, f file) error {
	sum := sha256.Sum256(f.Content)
	tx, err := j.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store report %s: %w", jb.ID, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	tag, err := tx.Exec(ctx, `UPDATE reports SET status = 'completed', completed_at = $2, file_name = $3,
		content_type = $4, file_size = $5, file_hash = $6, row_count = $7, error_message = NULL
	WHERE id = $1 AND status = 'generating'`, jb.ID, j.now(), f.Name, f.ContentType, len(f.Content),
		hex.EncodeToString(sum[:]), f.Rows)
	if err != nil {
		return fmt.Errorf("store report %s: %w", jb.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return nil // deleted (or failed as stale) meanwhile: nothing to store
	}
	if _, err := tx.Exec(ctx, `INSERT INTO report_files (report_id, content, organization_id) VALUES ($1, $2, $3)
		ON CONFLICT (report_id) DO UPDATE SET content = EXCLUDED.content`, jb.ID, f.Content, jb.Organization); err != nil {
		return fmt.Errorf("store report file %s: %w", jb.ID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store report %s: %w", jb.ID, err)
	}
	return nil
}

// failJob records the failure on a fresh context: the job's own may be what expired.
// The job is known by its id (the claim may be what failed): cross-organisation scope.
func (j *jobRunner) failJob(id uuid.UUID, cause error) {
	ctx, cancel := context.WithTimeout(systemScope(context.WithoutCancel(j.stop)), 10*time.Second)
	defer cancel()
	msg := cause.Error()
	var pub *publicError
	if errors.As(cause, &pub) {
		msg = pub.msg
	} else if errors.Is(cause, context.DeadlineExceeded) {
		msg = fmt.Sprintf("Generation took longer than %s", j.cfg.GenerationTimeout)
	} else {
		// Internal causes (SQL errors...) go to the log, not to the dashboard.
		msg = "Report generation failed (internal error)"
	}
	msg = strings.ToValidUTF8(clip(msg, 1000), "")
	if _, err := j.db.Exec(ctx, `UPDATE reports SET status = 'failed', completed_at = $2, error_message = $3
		WHERE id = $1 AND status = 'generating'`, id, j.now(), msg); err != nil {
		j.logger.ErrorContext(ctx, "mark report failed", "report", id, "error", err)
	}
}

// publicError is a failure whose message is meant for the user as is.
type publicError struct{ msg string }

func (e *publicError) Error() string { return e.msg }
