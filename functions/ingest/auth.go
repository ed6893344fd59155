package ingest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Device authentication (INGEST_DEVICE_AUTH=on): a key identifies one device; every
// frame of a connection or upload authenticated with it must carry that device_id.
// Keys live hashed (SHA-256) in ingest_device_keys (migration 00010); verified keys are
// cached for INGEST_DEVICE_KEY_CACHE_TTL so that an HTTP upload per sample does not cost
// a query. Provision a key with SQL:
//
//	INSERT INTO ingest_device_keys (key_hash, device_id, organization_id)
//	VALUES (sha256(convert_to('<random key>', 'UTF8')), 'ESP32_DEMO_MT_01', '<organisation id>');
//
// A key belongs to the organisation of its row (the default organisation when the
// INSERT names none), and so do the samples sent with it: a device registered in
// sqal_devices must be in that organisation too, or the key is refused.

var (
	errNoKey           = errors.New("device key required (X-Device-Key header)")
	errBadKey          = errors.New("invalid device key")
	errKeyOrganization = errors.New("invalid device key: the key and its device belong to different organisations")
)

// keyDevice is what a verified key identifies: a device and its organisation (both
// empty when device keys are off).
type keyDevice struct {
	id, org string
}

type cachedKey struct {
	device  keyDevice
	expires time.Time
}

type deviceAuth struct {
	on    bool
	db    DB
	ttl   time.Duration
	mu    sync.Mutex
	cache map[[32]byte]cachedKey
}

// HashDeviceKey is the stored form of a device key.
func HashDeviceKey(key string) [32]byte { return sha256.Sum256([]byte(key)) }

// authenticate returns the device a key belongs to and its organisation (zero when
// auth is off).
func (a *deviceAuth) authenticate(ctx context.Context, key string) (keyDevice, error) {
	if !a.on {
		return keyDevice{}, nil
	}
	if key == "" {
		return keyDevice{}, errNoKey
	}
	h := HashDeviceKey(key)
	a.mu.Lock()
	c, ok := a.cache[h]
	a.mu.Unlock()
	if ok && time.Now().Before(c.expires) {
		return c.device, nil
	}
	// The key is what tells the organisation, so it is looked up across organisations
	// (crossOrganization); only its own row and its device's organisation are read.
	var device keyDevice
	var deviceOrg *string
	err := a.db.QueryRow(crossOrganization(ctx),
		`SELECT k.device_id, k.organization_id::text, d.organization_id::text
		 FROM ingest_device_keys k LEFT JOIN sqal_devices d ON d.device_id = k.device_id
		 WHERE k.key_hash = $1 AND k.revoked_at IS NULL`, h[:]).Scan(&device.id, &device.org, &deviceOrg)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return keyDevice{}, errBadKey
	case err != nil:
		return keyDevice{}, fmt.Errorf("%w: verify device key: %v", ErrStorage, err)
	case deviceOrg != nil && *deviceOrg != device.org:
		// A key provisioned in one organisation for another's device would let it write
		// that device's samples into its own organisation.
		return keyDevice{}, errKeyOrganization
	}
	a.mu.Lock()
	if len(a.cache) > 10000 { // bounded: forget everything rather than grow forever
		clear(a.cache)
	}
	a.cache[h] = cachedKey{device: device, expires: time.Now().Add(a.ttl)}
	a.mu.Unlock()
	return device, nil
}

// deviceKey reads the key of a request: X-Device-Key, or (WebSocket only, since
// browsers and some firmware cannot set headers there) the device_key query parameter.
func deviceKey(r *http.Request, ws bool) string {
	if k := r.Header.Get("X-Device-Key"); k != "" {
		return k
	}
	if ws {
		return r.URL.Query().Get("device_key")
	}
	return ""
}

// checkDevice rejects a frame whose device differs from the authenticated one.
func (s *Service) checkDevice(authenticated, frameDevice string, present bool) error {
	if !s.auth.on {
		return nil
	}
	if !present || frameDevice != authenticated {
		return &deviceMismatchError{device: frameDevice}
	}
	return nil
}

// deviceMismatchError is a frame of another device than the authenticated one.
type deviceMismatchError struct{ device string }

func (e *deviceMismatchError) Error() string {
	return fmt.Sprintf("device_id %q does not match the device key", e.device)
}

func (s *Service) httpAuthError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrStorage) {
		problem(w, http.StatusServiceUnavailable, "Storage unavailable", err.Error())
		return
	}
	w.Header().Set("WWW-Authenticate", `DeviceKey realm="sqal-ingest"`)
	problem(w, http.StatusUnauthorized, "Unauthorized", err.Error())
}
