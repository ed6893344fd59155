// Package migrations holds the versioned SQL schema of the product (goose format:
// each file has an "-- +goose Up" and a "-- +goose Down" section). It is its own
// module so that the migration command, the test environment and every function can
// embed the same files without depending on each other.
package migrations

import "embed"

// FS holds the migration files at its root (00001_*.sql, ...).
//
//go:embed *.sql
var FS embed.FS
