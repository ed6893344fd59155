package reportsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// multipartUpload builds the body the dashboard's uploadVersion sends (FormData).
func multipartUpload(t testing.TB, target string, fields map[string]string, file []byte) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		fw, err := mw.CreateFormFile("file", "sqal_fw.bin")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(file)
	}
	_ = mw.Close()
	req := httptest.NewRequest(http.MethodPost, target, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return req
}

func TestFirmwareVersions(t *testing.T) {
	cfg := testConfig
	cfg.MaxFirmwareBytes = 4096
	e := newEnv(t, cfg)
	image := bytes.Repeat([]byte{0xE9, 0x01, 0x02, 0x03}, 512) // 2 KiB
	sum := sha256.Sum256(image)

	res := e.serve(multipartUpload(t, "/api/firmware/versions/", map[string]string{"version": "3.2.1", "name": "Stable",
		"description": "Correctifs", "compatible_devices": "ESP32_LL_01, ESP32_MT_01"}, image))
	if res.Code != http.StatusCreated {
		t.Fatalf("upload: %d %s", res.Code, res.Body)
	}
	fw := res.object(t)
	if fw["fileHash"] != hex.EncodeToString(sum[:]) || fw["fileSize"] != float64(len(image)) || fw["major"] != float64(3) ||
		fw["patch"] != float64(1) || fw["status"] != "draft" || fw["fileName"] != "sqal_fw.bin" ||
		len(fw["compatibleDevices"].([]any)) != 2 || fw["message"] != "Firmware version uploaded successfully" {
		t.Errorf("uploaded %v", fw)
	}
	id := fw["id"].(string)
	// The bytes are kept and served back unchanged.
	dl := e.must(t, "GET", "/api/firmware/versions/"+id+"/download/", "", 200)
	if !bytes.Equal(dl.Body, image) || !strings.Contains(dl.Header.Get("Content-Disposition"), `filename="sqal_fw.bin"`) {
		t.Errorf("download: %d bytes, %v", len(dl.Body), dl.Header)
	}
	// The former target's query parameters still work as a fallback.
	if res := e.serve(multipartUpload(t, "/api/firmware/versions?version=v3.3.0-beta&name=Beta", nil, []byte("x"))); res.Code != 201 ||
		res.object(t)["version"] != "3.3.0-beta" {
		t.Errorf("query fallback: %d %s", res.Code, res.Body)
	}
	list := e.must(t, "GET", "/api/firmware/versions", "", 200).object(t)
	if list["total"] != float64(2) || len(list["versions"].([]any)) != 2 {
		t.Errorf("list %v", list)
	}
	if got := e.must(t, "GET", "/api/firmware/versions/"+id+"/", "", 200).object(t); got["fileHash"] != fw["fileHash"] {
		t.Errorf("detail %v", got)
	}

	wantDetail(t, e.serve(multipartUpload(t, "/api/firmware/versions", map[string]string{"version": "3.2.1"}, image)),
		409, "Firmware version 3.2.1 already exists")
	wantDetail(t, e.serve(multipartUpload(t, "/api/firmware/versions", map[string]string{"version": "9.9.9"}, make([]byte, 5000))),
		413, "Firmware file too large (max 4096 bytes)")
	want422(t, e.serve(multipartUpload(t, "/api/firmware/versions", map[string]string{"version": "9.9.9"}, nil)), "missing", "body", "file")
	want422(t, e.serve(multipartUpload(t, "/api/firmware/versions", map[string]string{"version": "3.2"}, image)),
		"string_pattern_mismatch", "body", "version")
	want422(t, e.serve(multipartUpload(t, "/api/firmware/versions", map[string]string{"version": "4.0.0"}, []byte{})),
		"value_error", "body", "file")
	want422(t, e.do(t, "POST", "/api/firmware/versions", `{"version":"1.0.0"}`), "missing", "body", "file")

	e.must(t, "DELETE", "/api/firmware/versions/"+id, "", 200)
	wantDetail(t, e.do(t, "GET", "/api/firmware/versions/"+id, ""), 404, "Firmware version not found")
	wantDetail(t, e.do(t, "GET", "/api/firmware/versions/"+id+"/download", ""), 404, "Firmware version not found")
	if got := auditCount(t, e.db, "create", "firmware_version"); got != 2 {
		t.Errorf("audit rows = %d", got)
	}
}

func TestOTAUpdates(t *testing.T) {
	e := newEnv(t, testConfig)
	// A campaign targets registered devices of its organisation.
	if _, err := e.db.Exec(context.Background(), `INSERT INTO sqal_devices (device_id) VALUES ('ESP32_LL_01'), ('NEW_DEVICE')`); err != nil {
		t.Fatal(err)
	}
	res := e.serve(multipartUpload(t, "/api/firmware/versions", map[string]string{"version": "3.2.1"}, []byte("image")))
	fwID := res.object(t)["id"].(string)

	body := `{"name":"Déploiement 3.2.1","firmware_version_id":"` + fwID + `","target_devices":["ESP32_LL_01","NEW_DEVICE","ESP32_LL_01"],
		"rollout_strategy":"gradual","rollout_percentage":50}`
	o := e.must(t, "POST", "/api/firmware/ota/", body, http.StatusCreated).object(t)
	if o["totalDevices"] != float64(2) || o["status"] != "pending" || o["firmwareVersion"] != "3.2.1" ||
		o["rolloutStrategy"] != "gradual" || o["rolloutPercentage"] != float64(50) {
		t.Errorf("created %v", o)
	}
	logs := o["logs"].([]any)
	if len(logs) != 2 || logs[0].(map[string]any)["targetVersion"] != "3.2.1" || logs[0].(map[string]any)["status"] != "pending" {
		t.Errorf("logs %v", logs)
	}
	id := o["id"].(string)
	if l := e.must(t, "GET", "/api/firmware/ota", "", 200).object(t); l["total"] != float64(1) ||
		l["updates"].([]any)[0].(map[string]any)["logs"] != nil {
		t.Errorf("list %v", l)
	}
	// A firmware version in use by a campaign stays.
	wantDetail(t, e.do(t, "DELETE", "/api/firmware/versions/"+fwID, ""), 409, "Firmware version is still in use")

	c := e.must(t, "POST", "/api/firmware/ota/"+id+"/cancel/", "", 200).object(t)
	if c["status"] != "cancelled" || c["completedAt"] == nil || c["logs"].([]any)[1].(map[string]any)["status"] != "failed" {
		t.Errorf("cancelled %v", c)
	}
	e.must(t, "POST", "/api/firmware/ota/"+id+"/cancel", "", 200) // idempotent
	if got := auditCount(t, e.db, "update", "ota_update"); got != 1 {
		t.Errorf("cancel audit rows = %d", got)
	}
	if got := e.must(t, "GET", "/api/firmware/ota/"+id, "", 200).object(t); got["status"] != "cancelled" {
		t.Errorf("detail %v", got)
	}

	// A finished campaign cannot be cancelled.
	o2 := e.must(t, "POST", "/api/firmware/ota", `{"name":"b","firmwareVersionId":"`+fwID+`","targetVersion":"3.2.1-custom"}`, 201).object(t)
	if o2["totalDevices"] != float64(0) || len(o2["logs"].([]any)) != 0 {
		t.Errorf("no devices %v", o2)
	}
	if _, err := e.db.Exec(context.Background(), `UPDATE ota_updates SET status = 'completed' WHERE id = $1`, o2["id"]); err != nil {
		t.Fatal(err)
	}
	wantDetail(t, e.do(t, "POST", "/api/firmware/ota/"+o2["id"].(string)+"/cancel", ""), 409, "OTA update already completed")

	wantDetail(t, e.do(t, "POST", "/api/firmware/ota/00000000-0000-4000-8000-000000000000/cancel", ""), 404, "OTA update not found")
	wantDetail(t, e.do(t, "GET", "/api/firmware/ota/xyz", ""), 404, "OTA update not found")
	wantDetail(t, e.do(t, "POST", "/api/firmware/ota", `{"name":"c","firmware_version_id":"00000000-0000-4000-8000-000000000000"}`),
		404, "Firmware version not found")
	wantDetail(t, e.do(t, "POST", "/api/firmware/ota", `{"name":"c","firmware_version_id":"`+fwID+`","target_devices":["GHOST","NEW_DEVICE"]}`),
		404, "Device not found: GHOST")
	want422(t, e.do(t, "POST", "/api/firmware/ota", `{"name":"c"}`), "missing", "body", "firmware_version_id")
	want422(t, e.do(t, "POST", "/api/firmware/ota", `{"name":"c","firmware_version_id":"nope"}`), "uuid_parsing", "body", "firmware_version_id")
	want422(t, e.do(t, "POST", "/api/firmware/ota", `{"name":"c","firmware_version_id":"`+fwID+`","rollout_percentage":150}`),
		"less_than_equal", "body", "rollout_percentage")
	want422(t, e.do(t, "POST", "/api/firmware/ota", `{"name":"c","firmware_version_id":"`+fwID+`","target_devices":"ESP32"}`),
		"list_type", "body", "target_devices")
}
