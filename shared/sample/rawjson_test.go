package sample

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/sqalfn/sqal/shared/sample/fixtures"
)

// skipValueSlow is skipValue without the skipFlatArray shortcut: every byte of a
// container is looked at.
func skipValueSlow(b []byte, i int) int {
	if i >= len(b) || b[i] != '{' && b[i] != '[' {
		return skipValue(b, i)
	}
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			i = skipString(b, i)
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
		i++
	}
	return i
}

// FuzzSkipAndMembers checks the two shortcuts of the decoder against the plain
// algorithms: skipValue (flat arrays found with IndexByte) against a byte-by-byte walk
// at every container of a valid document, and the top-level members recorded by the
// validator against eachMember.
func FuzzSkipAndMembers(f *testing.F) {
	f.Add([]byte(`{"a":[1,[2,"]"],{"x":[3]}],"b":[[],[ ]],"a":{"c":[1 , 2 ]}}`))
	f.Add([]byte(`[[1,2],[3,[4]],{"a":"[]"},[-1.5e3, 0.25]]`))
	f.Add([]byte(`{"type":"ping","device_id":"x","k\u0074":[1.5e3,-0],"vl53l8ch_raw":{"bins_matrix":[[[1,2],[3]]]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 || !json.Valid(b) {
			return
		}
		for i, c := range b {
			if c != '[' && c != '{' {
				continue
			}
			want := skipValueSlow(b, i)
			if !json.Valid(b[i:want]) {
				continue // inside a string: not the start of a value
			}
			if got := skipValue(b, i); got != want {
				t.Fatalf("skipValue(%q, %d) = %d, want %d", b, i, got, want)
			}
		}
		var got, want wireFrame
		if !validJSONMembers(b, got.set) {
			t.Fatalf("validJSONMembers rejects valid %q", b)
		}
		if !isObject(b[skipSpace(b, 0):]) {
			return
		}
		eachMember(b, func(k string, v []byte) {
			q, _ := json.Marshal(k)
			want.set(q[1:len(q)-1], v)
		})
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("top-level members of %q:\n got %v\nwant %v", b, got, want)
		}
	})
}

func TestSkipValueFixtures(t *testing.T) {
	for _, name := range fixtures.All {
		b := fixtures.Load(t, name)
		if got, want := skipValue(b, 0), skipValueSlow(b, 0); got != want || got != len(b) && !json.Valid(b[:got]) {
			t.Errorf("%s: skipValue = %d, byte walk = %d, len %d", name, got, want, len(b))
		}
	}
}

func TestDigitsSWAR(t *testing.T) {
	for pos := range 9 {
		for c := range 256 {
			b := []byte("123456789")
			b[pos] = byte(c)
			v := validator{b: b}
			want := 0
			for want < len(b) && b[want] >= '0' && b[want] <= '9' {
				want++
			}
			if got := v.digits(); got != want || v.i != want {
				t.Fatalf("digits(%q) = %d, want %d", b, got, want)
			}
		}
	}
}
