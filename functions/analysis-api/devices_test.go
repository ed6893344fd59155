package analysisapi

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func seedDevices(t *testing.T, e *testEnv) {
	t.Helper()
	if _, err := e.db.Exec(context.Background(), `DELETE FROM sqal_devices`); err != nil {
		t.Fatal(err)
	}
	insert(t, e.db, "sqal_devices",
		row{"device_id": "ESP32_LL_01", "site_code": "LL", "last_seen": t0.Add(-30 * time.Second), "created_at": t0.Add(-48 * time.Hour),
			"metadata": `{"hello":{"ip_address":"192.168.1.123","location":"Ligne A","mac_address":"24:0A:C4:9A:E5:C4","firmware_version":"1.0.0"}}`},
		row{"device_id": "ESP32_MT_01", "device_name": "Station MT", "status": "maintenance", "firmware_version": "2.1.0",
			"site_code": "MT", "last_seen": t0.Add(-10 * time.Second), "created_at": t0.Add(-24 * time.Hour)},
		row{"device_id": "ESP32_OLD", "device_type": "CUSTOM", "last_seen": t0.Add(-10 * time.Minute), "created_at": t0.Add(-72 * time.Hour),
			"metadata": `{"location":"Hall 2","hello":{"location":"Ligne B"}}`},
		row{"device_id": "ESP32_NEVER", "status": "inactive", "created_at": t0.Add(-96 * time.Hour)},
	)
	seedSamples(t, e.db)
}

const (
	deviceLL = `{"id":"ESP32_LL_01","deviceId":"ESP32_LL_01","name":"ESP32_LL_01","type":"ESP32","status":"online",
		"firmwareVersion":"1.0.0","firmware":"1.0.0","location":"Ligne A","siteCode":"LL","lastSeen":"2026-11-27T09:59:30.000000+00:00",
		"ipAddress":"192.168.1.123","macAddress":"24:0A:C4:9A:E5:C4","totalMeasurements":4,"createdAt":"2026-11-25T10:00:00.000000+00:00"}`
	deviceMT = `{"id":"ESP32_MT_01","deviceId":"ESP32_MT_01","name":"Station MT","type":"ESP32","status":"maintenance",
		"firmwareVersion":"2.1.0","firmware":"2.1.0","location":"MT","siteCode":"MT","lastSeen":"2026-11-27T09:59:50.000000+00:00",
		"ipAddress":null,"macAddress":null,"totalMeasurements":2,"createdAt":"2026-11-26T10:00:00.000000+00:00"}`
	deviceOld = `{"id":"ESP32_OLD","deviceId":"ESP32_OLD","name":"ESP32_OLD","type":"CUSTOM","status":"offline",
		"firmwareVersion":null,"firmware":null,"location":"Hall 2","siteCode":null,"lastSeen":"2026-11-27T09:50:00.000000+00:00",
		"ipAddress":null,"macAddress":null,"totalMeasurements":0,"createdAt":"2026-11-24T10:00:00.000000+00:00"}`
	deviceNever = `{"id":"ESP32_NEVER","deviceId":"ESP32_NEVER","name":"ESP32_NEVER","type":"ESP32","status":"offline",
		"firmwareVersion":null,"firmware":null,"location":null,"siteCode":null,"lastSeen":null,
		"ipAddress":null,"macAddress":null,"totalMeasurements":0,"createdAt":"2026-11-23T10:00:00.000000+00:00"}`
)

func TestDevices(t *testing.T) {
	e := newEnv(t, false)
	// The migration's seed stations have never been seen: offline, named, site as location.
	got := e.get(t, "/api/sensors/devices/?limit=1", http.StatusOK).(map[string]any)
	if got["total"] != 3.0 || got["online"] != 0.0 || got["offline"] != 3.0 || len(got["devices"].([]any)) != 1 {
		t.Errorf("seed devices: %v", got)
	}
	seed := e.get(t, "/api/sensors/devices/ESP32-FOIEGRAS-LL-001", http.StatusOK).(map[string]any)
	delete(seed, "createdAt") // set by the migration's clock
	assertJSON(t, "seed device", seed, `{"id":"ESP32-FOIEGRAS-LL-001","deviceId":"ESP32-FOIEGRAS-LL-001","name":"Capteur Bretagne 1",
		"type":"ESP32","status":"offline","firmwareVersion":"v1.0.0","firmware":"v1.0.0","location":"LL","siteCode":"LL","lastSeen":null,
		"ipAddress":null,"macAddress":null,"totalMeasurements":0}`)

	seedDevices(t, e)
	for _, tc := range []struct{ path, want string }{
		{"/api/sensors/devices/", `{"devices":[` + deviceMT + `,` + deviceLL + `,` + deviceOld + `,` + deviceNever + `],"total":4,"online":1,"offline":2,"skip":0,"limit":50}`},
		{"/api/sensors/devices?skip=1&limit=2", `{"devices":[` + deviceLL + `,` + deviceOld + `],"total":4,"online":1,"offline":2,"skip":1,"limit":2}`},
		{"/api/sensors/devices/ESP32_LL_01/", deviceLL},
		{"/api/sensors/devices/ESP32_OLD", deviceOld},
	} {
		assertJSON(t, tc.path, e.get(t, tc.path, http.StatusOK), tc.want)
	}
	assertJSON(t, "unknown", e.get(t, "/api/sensors/devices/nope", http.StatusNotFound), `{"detail":"Device not found","message":"Device not found"}`)
}

func TestUpdateDevice(t *testing.T) {
	e := newEnv(t, false)
	seedDevices(t, e)

	patch := func(path, body string, status int) any {
		t.Helper()
		code, b := e.do(t, http.MethodPatch, path, body)
		if code != status {
			t.Fatalf("PATCH %s %s: status %d, want %d; body %s", path, body, code, status, b)
		}
		return decode(t, b)
	}

	// camelCase (as the GET returns) and snake_case (column names) are both accepted;
	// unknown keys are ignored; values kept outside columns go to metadata.
	got := patch("/api/sensors/devices/ESP32_OLD/", `{"name":"Vieux poste","firmwareVersion":"3.0.1","site_code":"LS",
		"status":"error","location":"Quai 3","ipAddress":"10.0.0.9","unknown":42}`, http.StatusOK)
	assertJSON(t, "patched", got, `{"id":"ESP32_OLD","deviceId":"ESP32_OLD","name":"Vieux poste","type":"CUSTOM","status":"error",
		"firmwareVersion":"3.0.1","firmware":"3.0.1","location":"Quai 3","siteCode":"LS","lastSeen":"2026-11-27T09:50:00.000000+00:00",
		"ipAddress":"10.0.0.9","macAddress":null,"totalMeasurements":0,"createdAt":"2026-11-24T10:00:00.000000+00:00"}`)
	assertJSON(t, "persisted", e.get(t, "/api/sensors/devices/ESP32_OLD", http.StatusOK), toJSON(t, got))
	first := got

	// null resets: the name to the id, the status to active (then computed), the
	// location to the hello frame's, the firmware to none.
	got = patch("/api/sensors/devices/ESP32_OLD", `{"device_name":null,"status":null,"location":null,"firmware_version":null,"type":"ESP32"}`, http.StatusOK)
	assertJSON(t, "reset", got, `{"id":"ESP32_OLD","deviceId":"ESP32_OLD","name":"ESP32_OLD","type":"ESP32","status":"offline",
		"firmwareVersion":null,"firmware":null,"location":"Ligne B","siteCode":"LS","lastSeen":"2026-11-27T09:50:00.000000+00:00",
		"ipAddress":"10.0.0.9","macAddress":null,"totalMeasurements":0,"createdAt":"2026-11-24T10:00:00.000000+00:00"}`)

	// Each update is audited with its before/after.
	var action, resType, resID, details, user, changes string
	var n int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) OVER (), action, resource_type, resource_id, details, user_name, changes
		FROM audit_log ORDER BY seq LIMIT 1`).Scan(&n, &action, &resType, &resID, &details, &user, &changes); err != nil {
		t.Fatal(err)
	}
	if n != 2 || action != "update" || resType != "device" || resID != "ESP32_OLD" || details != "Device updated" || user != "anonymous" {
		t.Errorf("audit row: %d %s %s %s %s %s", n, action, resType, resID, details, user)
	}
	ch := decode(t, []byte(changes)).(map[string]any)
	assertJSON(t, "audit before", ch["before"], deviceOld)
	assertJSON(t, "audit after", ch["after"], toJSON(t, first))

	// An empty object changes nothing.
	assertJSON(t, "empty", patch("/api/sensors/devices/ESP32_LL_01", `{}`, http.StatusOK), deviceLL)

	assertJSON(t, "unknown device", patch("/api/sensors/devices/nope", `{"name":"x"}`, http.StatusNotFound),
		`{"detail":"Device not found","message":"Device not found"}`)

	for _, tc := range []struct{ name, body, want string }{
		{"bad values", `{"status":"online","site_code":"ZZ","name":42}`, `{"detail":[
			{"type":"string_type","loc":["body","name"],"msg":"Input should be a valid string","input":42},
			{"type":"enum","loc":["body","status"],"msg":"Input should be 'active', 'inactive', 'maintenance' or 'error'","input":"online","ctx":{"expected":"'active', 'inactive', 'maintenance' or 'error'"}},
			{"type":"enum","loc":["body","site_code"],"msg":"Input should be 'LL', 'LS' or 'MT'","input":"ZZ","ctx":{"expected":"'LL', 'LS' or 'MT'"}}]}`},
		{"too long", `{"firmware":"123456789012345678901"}`, `{"detail":[
			{"type":"string_too_long","loc":["body","firmware"],"msg":"String should have at most 20 characters","input":"123456789012345678901","ctx":{"max_length":20}}]}`},
		{"not an object", `[1]`, `{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":[1]}]}`},
		{"not JSON", `{"name":`, `{"detail":[{"type":"json_invalid","loc":["body",0],"msg":"JSON decode error","input":{}}]}`},
		{"no body", ``, `{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertJSON(t, tc.name, patch("/api/sensors/devices/ESP32_LL_01", tc.body, http.StatusUnprocessableEntity), tc.want)
		})
	}
	// Failed updates changed nothing.
	assertJSON(t, "unchanged", e.get(t, "/api/sensors/devices/ESP32_LL_01", http.StatusOK), deviceLL)
}

func FuzzParseDeviceUpdate(f *testing.F) {
	for _, s := range []string{`{}`, `{"name":"a","status":"error"}`, `{"location":null}`, `[`, `null`, `{"site_code":"LL","ipAddress":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := parseDeviceUpdate(body)
		if (u == nil) == (err == nil) {
			t.Fatalf("parseDeviceUpdate(%q): update %v, error %v", body, u, err)
		}
		if u != nil && len(u.args) > len(u.sets) {
			t.Fatalf("more values than SET clauses: %v / %v", u.args, u.sets)
		}
	})
}
