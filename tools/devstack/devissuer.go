package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/sqalfn/sqal/shared/auth"
	"github.com/sqalfn/sqal/shared/runtime"
)

// devIssuerPath is where the local stack serves the development token issuer.
const devIssuerPath = "/api/dev"

// devIssuerDefaults completes the auth settings of the local stack before the
// functions read them: unless AUTH_DEV_ISSUER says otherwise, the development issuer
// is on in open mode (anonymous callers have full access anyway, so minting tokens
// grants nothing more) and off in enforce mode, where it needs AUTH_DEV_ISSUER=true
// and AUTH_DEV_ISSUER_ALLOW_ENFORCE=true. Its issuer URL follows the local port.
func devIssuerDefaults(cfg *runtime.Config) {
	if _, set := os.LookupEnv("AUTH_DEV_ISSUER"); !set {
		cfg.Auth.DevIssuer = !cfg.Auth.Enforced()
	}
	if _, set := os.LookupEnv("AUTH_DEV_ISSUER_URL"); !set {
		cfg.Auth.DevIssuerURL = "http://localhost:" + cfg.Server.Port + devIssuerPath
	}
}

// withDevIssuer mounts the development issuer in front of the public handler when it
// is enabled; it fails in enforce mode without the explicit second flag.
func withDevIssuer(public http.Handler, cfg auth.Config, log *slog.Logger) (http.Handler, error) {
	if !cfg.DevIssuer {
		if cfg.Enforced() {
			log.Info("AUTH_MODE=enforce: tokens must come from Keycloak (" + cfg.Issuer() + "); for local tokens set " +
				"AUTH_DEV_ISSUER=true AUTH_DEV_ISSUER_ALLOW_ENFORCE=true")
		}
		return public, nil
	}
	dev, err := auth.SharedDevIssuer(cfg)
	if err != nil {
		return nil, fmt.Errorf("development token issuer: %w", err)
	}
	log.Warn("development token issuer enabled: GET "+devIssuerPath+"/token?user=admin", "issuer", dev.Issuer(),
		"users", strings.Join(devUserNames(), ","), "auth_mode", cfg.Mode)
	issuer := dev.Handler(devIssuerPath)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == devIssuerPath || strings.HasPrefix(r.URL.Path, devIssuerPath+"/") {
			issuer.ServeHTTP(w, r)
			return
		}
		public.ServeHTTP(w, r)
	}), nil
}

func devUserNames() []string {
	out := make([]string, 0, len(auth.DevUsers))
	for n := range auth.DevUsers {
		out = append(out, n)
	}
	return out
}
