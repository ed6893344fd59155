package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

func TestFlagsAndEnvironment(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"bad profile flag", []string{"--profile", "weird"}, nil, "unknown profile"},
		{"bad profile env", nil, map[string]string{"SIM_PROFILE": "weird"}, "unknown profile"},
		{"flag wins over env", []string{"--profile", "weird"}, map[string]string{"SIM_PROFILE": "normal"}, "unknown profile"},
		{"bad site", []string{"--sites", "LL,XYZ"}, nil, `site code "XYZ"`},
		{"bad rate env", nil, map[string]string{"SIM_RATE": "fast"}, "must be positive"},
		{"negative duration", []string{"--duration", "-1s"}, nil, "must not be negative"},
		{"not a websocket URL", []string{"--url", "http://localhost:1/ws/sensors/", "--count", "1"}, nil, "must be ws://"},
		{"unknown flag", []string{"--nope"}, nil, "flag provided but not defined"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := realMain(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestRunPrintsSummary(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 24)
		_ = c.Write(r.Context(), websocket.MessageText, []byte(`{"type":"connection_established"}`))
		for {
			_, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			var m struct {
				SampleID string `json:"sample_id"`
			}
			if json.Unmarshal(b, &m) == nil && m.SampleID != "" {
				_ = c.Write(r.Context(), websocket.MessageText, []byte(`{"type":"ack","status":"saved","sample_id":"`+m.SampleID+`"}`))
			}
		}
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	env := map[string]string{"SIM_URL": "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/sensors/", "SIM_COUNT": "6",
		"SIM_RATE": "50", "SIM_SLIM": "true", "SIM_DEVICES": "2"}
	if err := realMain(context.Background(), nil, func(k string) string { return env[k] }, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "simulator: 6 sent, 6 acked (6 saved, 0 duplicate)") {
		t.Fatalf("summary = %q", out.String())
	}
	if !strings.Contains(errOut.String(), "sent 6  acked 6") {
		t.Fatalf("progress = %q", errOut.String())
	}
}
