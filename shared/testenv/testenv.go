// Package testenv gives tests a real PostgreSQL and a real Redis.
//
// STUB: signatures agreed between helpers; implementation pending (owned by the data helper).
package testenv

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// DB returns a pool on a fresh database cloned from a migrated template
// database (all migrations applied); the database is dropped when t ends.
func DB(t testing.TB) *pgxpool.Pool { t.Helper(); panic("testenv: not implemented yet") }

// DBURL is DB but returns the connection URL of the fresh database.
func DBURL(t testing.TB) string { t.Helper(); panic("testenv: not implemented yet") }

// Redis returns a client on a Redis no other test shares; closed when t ends.
func Redis(t testing.TB) *redis.Client { t.Helper(); panic("testenv: not implemented yet") }

// RedisURL is Redis but returns the URL.
func RedisURL(t testing.TB) string { t.Helper(); panic("testenv: not implemented yet") }
