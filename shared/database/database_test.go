package database

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/testenv"
)

func TestPoolConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     config.Database
		wantErr string
		check   func(t *testing.T, max, min int32, mode pgx.QueryExecMode)
	}{
		{"not configured", config.Database{}, "DATABASE_URL is not set", nil},
		{"sized from config", config.Database{URL: "postgres://u:p@localhost/db", MaxConns: 7, MinConns: 1, ExecMode: "exec"}, "",
			func(t *testing.T, max, min int32, mode pgx.QueryExecMode) {
				if max != 7 || min != 1 || mode != pgx.QueryExecModeExec {
					t.Errorf("max %d min %d mode %v", max, min, mode)
				}
			}},
		{"bad exec mode", config.Database{URL: "postgres://localhost/db", ExecMode: "turbo"}, "invalid database configuration", nil},
		{"bad url keeps secret", config.Database{URL: "postgres://u:hunter2@local host:x/db"}, "invalid connection string", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc, err := PoolConfig(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("err = %v, want %q without secret", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, pc.MaxConns, pc.MinConns, pc.ConnConfig.DefaultQueryExecMode)
		})
	}
}

func TestOpenFailsFastOnDeadServer(t *testing.T) {
	start := time.Now()
	_, err := Open(t.Context(), config.Database{URL: "postgres://u:hunter2@127.0.0.1:1/db", ConnectTimeout: time.Second})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
}

func TestWithTxAndMetrics(t *testing.T) {
	url := testenv.DBURL(t)
	pool, err := Open(t.Context(), config.Database{URL: url, MaxConns: 3, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx := t.Context()
	if _, err := pool.Exec(ctx, `CREATE TABLE tx_probe (n int)`); err != nil {
		t.Fatal(err)
	}
	errRollback := errors.New("rollback please")
	tests := []struct {
		name    string
		fn      func(ctx context.Context, tx pgx.Tx) error
		panics  bool
		wantErr error
		want    int // rows after
	}{
		{"commit", func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO tx_probe VALUES (1)`)
			return err
		}, false, nil, 1},
		{"error rolls back", func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO tx_probe VALUES (2)`); err != nil {
				return err
			}
			return errRollback
		}, false, errRollback, 1},
		{"panic rolls back", func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO tx_probe VALUES (3)`); err != nil {
				return err
			}
			panic("boom")
		}, true, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			func() {
				defer func() {
					if p := recover(); (p != nil) != tt.panics {
						t.Fatalf("panic = %v", p)
					}
				}()
				if err := WithTx(ctx, pool, tt.fn); !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v", err)
				}
			}()
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM tx_probe`).Scan(&n); err != nil || n != tt.want {
				t.Fatalf("rows = %d (%v), want %d", n, err, tt.want)
			}
		})
	}
	if pool.Stat().AcquiredConns() != 0 {
		t.Errorf("connection leaked: %d acquired", pool.Stat().AcquiredConns())
	}

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	if _, err := RegisterMetrics(mp.Meter("test"), pool, "main"); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[int64]); ok {
				got[m.Name] = g.DataPoints[0].Value
			}
		}
	}
	if got["db_pool_max"] != 3 || got["db_pool_size"] < 1 {
		t.Errorf("pool metrics %v", got)
	}
}
