package reportsapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sqalfn/sqal/shared/alert"
	"github.com/sqalfn/sqal/shared/httpapi"
)

// clientError reports whether err is what a decoder may return for bad input: a 422
// list or a 4xx status, never anything that would become a 500.
func clientError(err error) bool {
	var ve *httpapi.ValidationError
	var se *httpapi.StatusError
	return errors.As(err, &ve) && len(ve.Items) > 0 || errors.As(err, &se) && se.Status >= 400 && se.Status < 500
}

var bodySeeds = []string{
	dashboardBody("csv"),
	`{"reportType":"weekly","format":"PDF","parameters":{"device_id":"x"}}`,
	`{"report_type":"custom","start_date":"2026-11-20","end_date":"2026-11-10"}`,
	`{"report_type":"daily","start_date":1769335200}`,
	`{"name":"Qualité faible","condition":"quality_score < 0.7","severity":"warning","enabled":true,"notify_channels":["websocket"]}`,
	`{"enabled":false}`,
	`{"name":"n","report_config":{"a":1},"frequency":"weekly","recipients":["a@b.c"]}`,
	`{"name":"t","report_type":"q","template_content":{},"styles":null,"is_default":true}`,
	`{"name":"o","firmware_version_id":"00000000-0000-4000-8000-000000000001","target_devices":["a","a"],"rollout_percentage":100}`,
	`[]`, `null`, `"x"`, `{"name":`, `{"report_type":{"x":1}}`, ``,
}

// FuzzJSONBodies runs every JSON body decoder of the function on the same input.
func FuzzJSONBodies(f *testing.F) {
	for _, s := range bodySeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if rq, err := parseReportRequest(b, t0); err != nil {
			if !clientError(err) {
				t.Fatalf("report: %v", err)
			}
		} else {
			if !contains(reportFormats, rq.Format) || rq.ReportType == "" || len(rq.ReportType) > 100 || rq.Title == "" ||
				rq.End.Before(rq.Start) || !json.Valid(rq.Parameters) || !strings.HasPrefix(strings.TrimSpace(string(rq.Parameters)), "{") {
				t.Fatalf("report accepted as %+v", rq)
			}
		}
		for _, create := range []bool{true, false} {
			if rf, err := parseRuleFields(b, create); err != nil {
				if !clientError(err) {
					t.Fatalf("rule: %v", err)
				}
			} else {
				if create && (rf.Name == nil || *rf.Name == "" || rf.Condition == nil) {
					t.Fatalf("rule created without name or condition: %+v", rf)
				}
				if rf.Condition != nil {
					if _, err := alert.ParseCondition(*rf.Condition); err != nil {
						t.Fatalf("rule accepted with condition %q: %v", *rf.Condition, err)
					}
				}
				if rf.Severity != nil && !contains(severities, *rf.Severity) {
					t.Fatalf("severity %q", *rf.Severity)
				}
			}
			if sf, err := parseScheduleFields(b, create); err != nil {
				if !clientError(err) {
					t.Fatalf("schedule: %v", err)
				}
			} else if create && (sf.Name == nil || *sf.Name == "" || sf.Frequency == nil) {
				t.Fatalf("schedule created without name or frequency: %+v", sf)
			} else if sf.Frequency != nil && !contains(frequencies, *sf.Frequency) {
				t.Fatalf("frequency %q", *sf.Frequency)
			}
			if tf, err := parseTemplateFields(b, create); err != nil {
				if !clientError(err) {
					t.Fatalf("template: %v", err)
				}
			} else if create && (tf.Name == nil || *tf.Name == "" || tf.ReportType == nil || *tf.ReportType == "") {
				t.Fatalf("template created without name or type: %+v", tf)
			}
		}
		if o, err := parseOTARequest(b); err != nil {
			if !clientError(err) {
				t.Fatalf("ota: %v", err)
			}
		} else {
			seen := map[string]bool{}
			for _, d := range o.TargetDevices {
				if d == "" || seen[d] {
					t.Fatalf("target devices %q", o.TargetDevices)
				}
				seen[d] = true
			}
			if o.Name == "" || o.RolloutPercentage < 0 || o.RolloutPercentage > 100 || !contains(rolloutStrategies, o.RolloutStrategy) {
				t.Fatalf("ota accepted as %+v", o)
			}
		}
	})
}

// FuzzFirmwareUpload feeds arbitrary multipart bodies to the upload decoder.
func FuzzFirmwareUpload(f *testing.F) {
	const boundary = "XBOUNDARY"
	f.Add("--XBOUNDARY\r\nContent-Disposition: form-data; name=\"version\"\r\n\r\n3.2.1\r\n" +
		"--XBOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fw.bin\"\r\n\r\nIMAGE\r\n--XBOUNDARY--\r\n")
	f.Add("--XBOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../etc/x\"\r\n\r\n\r\n--XBOUNDARY--\r\n")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/api/firmware/versions", strings.NewReader(body))
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		up, err := readFirmwareUpload(req, 64)
		if err != nil {
			if !clientError(err) {
				t.Fatalf("upload: %v", err)
			}
			return
		}
		sum := sha256.Sum256(up.Content)
		if up.SHA256 != hex.EncodeToString(sum[:]) || len(up.Content) == 0 || len(up.Content) > 64 ||
			!versionPattern.MatchString(up.Version) || strings.Contains(up.FileName, "/") || up.Name == "" ||
			!utf8.ValidString(up.FileName+up.Name) || strings.ContainsRune(up.FileName+up.Name, 0) {
			t.Fatalf("upload accepted as %+v", up)
		}
	})
}
