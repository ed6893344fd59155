package config

import (
	"net/url"
	"regexp"
	"strings"
)

const redacted = "xxxxx"

// dsnPassword matches password=... in a libpq key/value connection string.
var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// Redact returns s with any password removed, for logs and error messages. It handles
// URLs (postgres://user:secret@host/db, redis://:secret@host), libpq key/value strings
// (password=secret) and password query parameters. A string it cannot parse is returned
// as is only when it contains no '@' (otherwise it is replaced entirely).
func Redact(s string) string {
	if s == "" {
		return s
	}
	if !strings.Contains(s, "://") {
		return dsnPassword.ReplaceAllString(s, "${1}"+redacted)
	}
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return redacted
		}
		return s
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
	}
	q := u.Query()
	changed := false
	for k := range q {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
			q.Set(k, redacted)
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}
