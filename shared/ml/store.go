package ml

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Store keeps model artefacts. The registry only ever goes through this interface, so
// object storage (S3, GCS) can replace the PostgreSQL table without touching callers.
type Store interface {
	// Put stores the artefact of a model; writing the same bytes twice is not an error.
	Put(ctx context.Context, modelID string, data []byte) error
	// Get returns the artefact of a model, or an error wrapping ErrNoArtefact.
	Get(ctx context.Context, modelID string) ([]byte, error)
}

// ErrNoArtefact is returned by Store.Get for a model without an artefact.
var ErrNoArtefact = errors.New("model has no artefact")

// PGStore is the Store over the ai_model_artefacts table (not tenant data: any scope
// reads and writes it).
type PGStore struct{ DB Querier }

// Put implements Store.
func (s PGStore) Put(ctx context.Context, modelID string, data []byte) error {
	_, err := s.DB.Exec(ctx, `INSERT INTO ai_model_artefacts (model_id, data, sha256, size_bytes)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (model_id) DO UPDATE SET data = EXCLUDED.data, sha256 = EXCLUDED.sha256,
			size_bytes = EXCLUDED.size_bytes, created_at = now()`,
		modelID, data, Checksum(data), len(data))
	if err != nil {
		return fmt.Errorf("store artefact of model %s: %w", modelID, err)
	}
	return nil
}

// Get implements Store.
func (s PGStore) Get(ctx context.Context, modelID string) ([]byte, error) {
	var data []byte
	err := s.DB.QueryRow(ctx, `SELECT data FROM ai_model_artefacts WHERE model_id = $1`, modelID).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("load artefact of model %s: %w", modelID, ErrNoArtefact)
	}
	if err != nil {
		return nil, fmt.Errorf("load artefact of model %s: %w", modelID, err)
	}
	return data, nil
}
