package adminapi

import (
	"crypto/sha256"
	"errors"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// hashKey is the stored form of a device key; it must equal ingest's HashDeviceKey
// (SHA-256 of the key's bytes; TestIssuedKeyAuthenticates checks it against ingest's table).
func hashKey(key string) [32]byte { return sha256.Sum256([]byte(key)) }

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func keys(m map[string]any) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func isFKViolation(err error) bool     { return pgCode(err) == "23503" }
func isUniqueViolation(err error) bool { return pgCode(err) == "23505" }

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
