package reportsapi

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
)

// renderXLSX writes the sample table as a minimal Office Open XML workbook (one sheet,
// inline strings): the five parts a spreadsheet application needs, with archive/zip
// and encoding/xml rather than a spreadsheet library.
func renderXLSX(rows [][]*string) ([]byte, error) {
	var sheet bytes.Buffer
	sheet.WriteString(xml.Header)
	sheet.WriteString(`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`)
	header := make([]*string, len(sampleColumns))
	for i := range sampleColumns {
		header[i] = &sampleColumns[i].Name
	}
	writeRow := func(n int, cells []*string, typed bool) error {
		fmt.Fprintf(&sheet, `<row r="%d">`, n)
		for i, c := range cells {
			if c == nil {
				continue
			}
			ref := columnName(i) + strconv.Itoa(n)
			if typed && sampleColumns[i].Numeric {
				if _, err := strconv.ParseFloat(*c, 64); err == nil {
					fmt.Fprintf(&sheet, `<c r="%s"><v>%s</v></c>`, ref, *c)
					continue
				}
			}
			fmt.Fprintf(&sheet, `<c r="%s" t="inlineStr"><is><t>`, ref)
			if err := xml.EscapeText(&sheet, []byte(*c)); err != nil {
				return err
			}
			sheet.WriteString(`</t></is></c>`)
		}
		sheet.WriteString(`</row>`)
		return nil
	}
	if err := writeRow(1, header, false); err != nil {
		return nil, fmt.Errorf("write XLSX: %w", err)
	}
	for i, row := range rows {
		if err := writeRow(i+2, row, true); err != nil {
			return nil, fmt.Errorf("write XLSX: %w", err)
		}
	}
	sheet.WriteString(`</sheetData></worksheet>`)

	parts := []struct{ name, body string }{
		{"[Content_Types].xml", xml.Header + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
			`<Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
			`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>` +
			`</Types>`},
		{"_rels/.rels", xml.Header + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>` +
			`</Relationships>`},
		{"xl/workbook.xml", xml.Header + `<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ` +
			`xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">` +
			`<sheets><sheet name="Samples" sheetId="1" r:id="rId1"/></sheets></workbook>`},
		{"xl/_rels/workbook.xml.rels", xml.Header + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>` +
			`</Relationships>`},
		{"xl/worksheets/sheet1.xml", sheet.String()},
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, p := range parts {
		w, err := zw.Create(p.name)
		if err != nil {
			return nil, fmt.Errorf("write XLSX part %s: %w", p.name, err)
		}
		if _, err := w.Write([]byte(p.body)); err != nil {
			return nil, fmt.Errorf("write XLSX part %s: %w", p.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("write XLSX: %w", err)
	}
	return out.Bytes(), nil
}

// columnName is the spreadsheet column letter(s) of index i (0 -> A, 26 -> AA).
func columnName(i int) string {
	name := ""
	for i++; i > 0; i = (i - 1) / 26 {
		name = string(rune('A'+(i-1)%26)) + name
	}
	return name
}
