package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sqalfn/sqal/shared/tenant"
)

// Organisations (migration 00060): every sample, device row and outbox event belongs to
// the organisation of its device. The ingest routes are authenticated by device key, not
// by the auth middleware, so no request arrives with an organisation scope: ingest works
// it out per sample.
//
//   - With device keys (INGEST_DEVICE_AUTH=on), the organisation of the key's device:
//     the handler puts it in the request's scope after authentication (auth.go), and
//     every frame must carry the key's device_id.
//   - Without, the organisation the device is registered in (sqal_devices), cached per
//     device for INGEST_DEVICE_ORG_CACHE_TTL; a device never seen before belongs to the
//     default organisation, where its first sample registers it.
//
// The store then writes groups that may mix organisations (group commit), so its
// transactions run in the cross-organisation scope and name organization_id on every
// row and event themselves (store.go).

// DB is the database ingest works through: a *database.DB in the function (every
// statement runs with the organisation scope of its context); tests may pass a
// superuser *pgxpool.Pool, which row-level security does not apply to.
type DB interface {
	// SendBatch runs b as one implicit transaction.
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// crossOrganization is the scope of ingest's own database work: resolving which
// organisation a device or key belongs to (the answer decides the scope, so the lookup
// cannot run inside one) and storing groups of samples of several organisations, whose
// rows name their organisation explicitly.
func crossOrganization(ctx context.Context) context.Context {
	return tenant.With(ctx, tenant.All())
}

type cachedOrg struct {
	org     string
	expires time.Time
}

// deviceOrgs maps device_id to organisation, from sqal_devices, with a TTL: one query
// per device per TTL, none per sample on the hot path.
type deviceOrgs struct {
	db      DB
	ttl     time.Duration
	timeout time.Duration
	mu      sync.Mutex
	cache   map[string]cachedOrg
}

func newDeviceOrgs(db DB, ttl, timeout time.Duration) *deviceOrgs {
	return &deviceOrgs{db: db, ttl: ttl, timeout: timeout, cache: map[string]cachedOrg{}}
}

// lookup returns the organisation of device. A device that is not registered belongs to
// the default organisation; that answer is not cached, so a device an administrator
// registers in another organisation before its first sample is seen there at once (its
// first samples cost a query each until one is stored and registers it).
func (d *deviceOrgs) lookup(ctx context.Context, device string) (string, error) {
	d.mu.Lock()
	c, ok := d.cache[device]
	d.mu.Unlock()
	if ok && time.Now().Before(c.expires) {
		return c.org, nil
	}
	ctx, cancel := context.WithTimeout(crossOrganization(ctx), d.timeout)
	defer cancel()
	var org string
	err := d.db.QueryRow(ctx, `SELECT organization_id::text FROM sqal_devices WHERE device_id = $1`, device).Scan(&org)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return tenant.DefaultOrganization, nil
	case err != nil:
		return "", fmt.Errorf("%w: organisation of device %s: %v", ErrStorage, device, err)
	}
	d.put(device, org)
	return org, nil
}

func (d *deviceOrgs) put(device, org string) {
	if d.ttl <= 0 {
		return
	}
	d.mu.Lock()
	if len(d.cache) > 100000 { // bounded: forget everything rather than grow forever
		clear(d.cache)
	}
	d.cache[device] = cachedOrg{org: org, expires: time.Now().Add(d.ttl)}
	d.mu.Unlock()
}

// organizationOf is the organisation a frame of device is stored in (see the top of
// this file): with device keys the request's scope, which the handler set to the key's
// organisation; otherwise the device's registration.
func (s *Service) organizationOf(ctx context.Context, device string) (string, error) {
	if s.auth.on {
		if sc, ok := tenant.From(ctx); ok && !sc.All {
			return sc.Organization, nil
		}
		return "", fmt.Errorf("%w: no organisation for device %s", ErrStorage, device) // a handler forgot withKeyScope
	}
	return s.orgs.lookup(ctx, device)
}

// withKeyScope is the request context in the organisation of the authenticated key
// (unchanged when device keys are off: the organisation is then resolved per sample).
func withKeyScope(ctx context.Context, k keyDevice) context.Context {
	if k.org == "" {
		return ctx
	}
	return tenant.With(ctx, tenant.Org(k.org))
}
