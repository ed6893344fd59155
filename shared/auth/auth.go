// Package auth validates Keycloak tokens and enforces the roles -> permissions table.
//
// STUB (owned by the security helper): the runtime calls NewMiddleware for every HTTP
// function; until the real implementation lands it lets every request through.
package auth

import (
	"context"
	"log/slog"
	"net/http"
)

// Config is read by the runtime with go-envconfig.
type Config struct {
	Mode string `env:"AUTH_MODE, default=open"` // open | enforce
}

// NewMiddleware returns the authentication/authorisation middleware for HTTP functions.
func NewMiddleware(ctx context.Context, cfg Config, logger *slog.Logger) (func(http.Handler) http.Handler, error) {
	return func(next http.Handler) http.Handler { return next }, nil
}
