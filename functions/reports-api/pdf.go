package reportsapi

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// renderPDF writes the report's summary as a one-page PDF 1.4 document (Helvetica,
// WinAnsi text), built by hand: the content is a few lines of text, which does not
// justify a PDF library in the function's image.
func renderPDF(jb job, s summary, now time.Time) []byte {
	lines := []struct {
		size int
		text string
	}{
		{16, jb.Title},
		{10, "SQAL - rapport " + jb.ReportType},
		{10, "Periode : " + jb.Start.UTC().Format("2006-01-02 15:04") + " UTC - " + jb.End.UTC().Format("2006-01-02 15:04") + " UTC"},
		{10, "Genere le " + now.UTC().Format("2006-01-02 15:04:05") + " UTC"},
		{10, ""},
		{12, "Synthese"},
		{10, fmt.Sprintf("Echantillons analyses : %d", s.Total)},
		{10, fmt.Sprintf("Qualite moyenne : %.1f %% (min %.1f %%, max %.1f %%)", 100*s.AverageQuality, 100*s.MinQuality, 100*s.MaxQuality)},
		{10, fmt.Sprintf("Conformes : %d (%.1f %%)", s.Compliant, pct(s.Compliant, s.Total))},
		{10, fmt.Sprintf("Appareils : %d", s.Devices)},
		{10, ""},
		{12, "Repartition par grade"},
	}
	for _, g := range s.Grades {
		lines = append(lines, struct {
			size int
			text string
		}{10, fmt.Sprintf("%-7s %6d  (%.1f %%)", g.Grade, g.Count, pct(g.Count, s.Total))})
	}
	if len(s.Grades) == 0 {
		lines = append(lines, struct {
			size int
			text string
		}{10, "Aucun echantillon sur la periode."})
	}

	var content bytes.Buffer
	content.WriteString("BT\n")
	y := 790
	for _, l := range lines {
		fmt.Fprintf(&content, "/F1 %d Tf 1 0 0 1 50 %d Tm %s Tj\n", l.size, y, pdfString(l.text))
		y -= l.size + 8
		if y < 40 {
			break // one page: the grade list is at most a handful of lines
		}
	}
	content.WriteString("ET\n")

	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
		"<< /Length " + strconv.Itoa(content.Len()) + " >>\nstream\n" + content.String() + "endstream",
		"<< /Producer (SQAL reports-api) /Title " + pdfString(jb.Title) + " >>",
	}
	var out bytes.Buffer
	out.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = out.Len()
		fmt.Fprintf(&out, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := out.Len()
	fmt.Fprintf(&out, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&out, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&out, "trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, len(objects), xref)
	return out.Bytes()
}

func pct(n, total int64) float64 {
	if total == 0 {
		return 0
	}
	return 100 * float64(n) / float64(total)
}

// pdfString encodes s as a PDF literal string in WinAnsi: Latin-1 characters as octal
// escapes, delimiters escaped, anything else as '?'.
func pdfString(s string) string {
	var b bytes.Buffer
	b.WriteByte('(')
	for _, r := range s {
		switch {
		case r == '(' || r == ')' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r >= 0xa0 && r <= 0xff:
			fmt.Fprintf(&b, "\\%03o", r)
		default:
			b.WriteByte('?')
		}
	}
	b.WriteByte(')')
	return b.String()
}
