package reportsapi

import (
	"testing"
	"time"
)

func TestContentDisposition(t *testing.T) {
	tests := map[string]string{
		"sqal_report_quality_20261127_ab12cd34.csv": `attachment; filename="sqal_report_quality_20261127_ab12cd34.csv"`,
		`fw "v3".bin`:     `attachment; filename="fw _v3_.bin"; filename*=UTF-8''fw%20%22v3%22.bin`,
		"mise_à_jour.bin": `attachment; filename="mise___jour.bin"; filename*=UTF-8''mise_%C3%A0_jour.bin`,
	}
	for name, want := range tests {
		if got := contentDisposition(name); got != want {
			t.Errorf("contentDisposition(%q) = %s, want %s", name, got, want)
		}
	}
}

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "LOT-1": "LOT-1", "=SUM(A1)": "'=SUM(A1)", "+33": "'+33", "@x": "'@x",
		"-0.5": "-0.5", "-1abc": "'-1abc", "-cmd": "'-cmd", "0.9": "0.9",
	} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSchedulePeriods(t *testing.T) {
	at := time.Date(2026, 1, 31, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		frequency  string
		next, from time.Time
	}{
		{"daily", at.AddDate(0, 0, 1), at.AddDate(0, 0, -1)},
		{"weekly", at.AddDate(0, 0, 7), at.AddDate(0, 0, -7)},
		{"monthly", at.AddDate(0, 1, 0), at.AddDate(0, -1, 0)},
		{"quarterly", at.AddDate(0, 3, 0), at.AddDate(0, -3, 0)},
	}
	for _, tt := range tests {
		if got := nextRun(tt.frequency, at); !got.Equal(tt.next) {
			t.Errorf("nextRun(%s) = %v, want %v", tt.frequency, got, tt.next)
		}
		if got := period(tt.frequency, at); !got.Equal(tt.from) {
			t.Errorf("period(%s) = %v, want %v", tt.frequency, got, tt.from)
		}
	}
}

func TestColumnNameAndPDFString(t *testing.T) {
	for i, want := range map[int]string{0: "A", 14: "O", 25: "Z", 26: "AA", 51: "AZ", 52: "BA", 701: "ZZ", 702: "AAA"} {
		if got := columnName(i); got != want {
			t.Errorf("columnName(%d) = %s, want %s", i, got, want)
		}
	}
	if got := pdfString(`Qualité (lot\1) ✓`); got != `(Qualit\351 \(lot\\1\) ?)` {
		t.Errorf("pdfString = %s", got)
	}
}
