package sample

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"slices"
	"sync"

	"github.com/klauspost/compress/huff0"
)

// The time-of-flight histogram (vl53l8ch_raw.bins_matrix, 8x8x128 numbers 0-29.2) is
// stored as fixed-point integers (EncodingHist): see raw.go for the whole format and the
// choice of HistScaleExp. This file finds it in a frame, quantises it and renders it back.

// HistScaleExp is the decimal exponent of the fixed-point histogram: a value x is stored
// as q = round(x * 10^HistScaleExp) (half away from zero, computed on the decimal text,
// so exact) and read back as q / 10^HistScaleExp. Maximum absolute error 0.5e-3.
// Stored rows carry their own exponent: changing this constant changes new rows only.
// Why 3 (not 2 or 4): raw.go, "Stored form".
const HistScaleExp = 3

// maxHistCells bounds the quantised histogram (8x8x128 = 8192 in every real frame);
// larger arrays are stored with the plain lossless encoding.
const maxHistCells = 1 << 16

// histSplit is a frame cut around its histogram: frame[start:end] is the JSON array
// of vl53l8ch_raw.bins_matrix, replaced in the stored form by the quantised values.
type histSplit struct {
	start, end int
	dims       [3]int
	exp        int
	compact    bool // "," between values instead of ", "
	q          []int64
}

var errNoHist = errors.New("no quantisable histogram")

// dim records n, the length of an array of level lvl, and reports whether it is the
// length of the level's earlier arrays (the histogram is regular).
func (h *histSplit) dim(lvl, n int) bool {
	if h.dims[lvl] == 0 {
		h.dims[lvl] = n
	}
	return h.dims[lvl] == n
}

// splitHistogram locates and quantises the histogram of a decoded frame. It fails
// (errNoHist) when the frame is not exactly its own JSON (non-finite tokens were
// rewritten), has no vl53l8ch_raw.bins_matrix, or when that value is not a regular,
// non-empty 3-level array of numbers of moderate magnitude: such frames are stored
// with the lossless encoding.
func splitHistogram(f *Frame) (*histSplit, error) {
	if len(f.JSON) != len(f.Raw) || len(f.Raw) == 0 || &f.JSON[0] != &f.Raw[0] || !isObject(f.w.VL53Raw) {
		return nil, errNoHist
	}
	var bins []byte
	eachMember(f.w.VL53Raw, func(k string, v []byte) {
		if k == "bins_matrix" {
			bins = v
		}
	})
	if !isArray(bins) {
		return nil, errNoHist
	}
	// bins is a subslice of f.Raw: its offset is the difference of the capacities.
	start := cap(f.Raw) - cap(bins)
	if start < 0 || start+len(bins) > len(f.Raw) || &f.Raw[start] != &bins[0] {
		return nil, errNoHist
	}
	if p := f.preHist; p != nil && p.start == start && p.end == start+len(bins) && p.exp == HistScaleExp {
		return p, nil // quantised by Decode's validator
	}
	h := &histSplit{start: start, end: start + len(bins), exp: HistScaleExp}
	if !h.parse(bins) {
		return nil, errNoHist
	}
	return h, nil
}

// parse reads a regular 3-level array of JSON numbers (b is valid JSON) into h.q and
// h.dims. Decode's validator normally quantises the histogram already while it
// validates it (validator.histValue, one pass over the ~108 KB of numbers); parse is
// the path for frames where it could not (an escaped key, NaN tokens rewritten) and the
// reference the fuzz tests compare the validator's result with.
func (h *histSplit) parse(b []byte) bool {
	q := make([]int64, 0, 8192)
	var count [3]int // elements seen in the current array of each level
	depth := 0
	sepSeen := false
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '[':
			if depth == 3 {
				return false
			}
			if depth > 0 {
				count[depth-1]++
			}
			depth++
			count[depth-1] = 0
			i++
		case c == ']':
			n := count[depth-1]
			if n == 0 {
				return false // an empty array: nothing regular to store
			}
			lvl := depth - 1
			if h.dims[lvl] == 0 {
				h.dims[lvl] = n
			} else if h.dims[lvl] != n {
				return false
			}
			depth--
			i++
			if depth == 0 {
				if skipSpace(b, i) != len(b) {
					return false
				}
				h.q = q
				return len(q) == h.dims[0]*h.dims[1]*h.dims[2]
			}
		case c == ',':
			if !sepSeen {
				sepSeen = true
				h.compact = i+1 >= len(b) || b[i+1] != ' '
			}
			i++
		case c == ' ' || c == '\n' || c == '\r' || c == '\t':
			i++
		case c == '-' || c >= '0' && c <= '9':
			if depth != 3 || len(q) >= maxHistCells {
				return false
			}
			count[2]++
			// Half the cells are "0.0": no need for the general reader.
			if c == '0' && i+3 < len(b) && b[i+1] == '.' && b[i+2] == '0' && (b[i+3] == ',' || b[i+3] == ']') {
				q = append(q, 0)
				i += 3
				continue
			}
			v, next, ok := quantise(b, i, h.exp)
			if !ok {
				return false
			}
			q = append(q, v)
			i = next
		default: // strings, objects, literals
			return false
		}
	}
	return false
}

// maxHistMagnitude bounds |q| (beyond it the plain encoding is used).
const maxHistMagnitude = 1 << 40

// signed ends the quantisers: the magnitude q with its sign, or not ok beyond
// maxHistMagnitude; next is where the number ended.
func signed(q int64, neg bool, next int) (int64, int, bool) {
	if q > maxHistMagnitude {
		return 0, next, false
	}
	if neg {
		q = -q
	}
	return q, next, true
}

// quantise reads the JSON number starting at b[i] (valid syntax) and returns
// round(value * 10^exp), half away from zero, computed exactly on the decimal digits.
// The fast path reads the plain form the stations send (0.3577512036644679): integer
// digits, at most exp fraction digits, the rounding digit, the rest skipped eight at
// a time; exponents and long integer parts take quantiseSlow.
func quantise(b []byte, i, exp int) (q int64, next int, ok bool) {
	start := i
	neg := false
	if b[i] == '-' {
		neg = true
		i++
	}
	var ip int64
	n := 0
	for i < len(b) && b[i]-'0' <= 9 {
		ip = ip*10 + int64(b[i]-'0')
		i++
		n++
	}
	if n > 12 {
		return quantiseSlow(b, start, exp)
	}
	var frac int64
	k := 0
	up := false
	if i < len(b) && b[i] == '.' {
		i++
		// Common case: exp = 3 and at least four fraction digits.
		if exp == 3 && i+4 <= len(b) {
			d0, d1, d2, d3 := b[i]-'0', b[i+1]-'0', b[i+2]-'0', b[i+3]-'0'
			if d0 <= 9 && d1 <= 9 && d2 <= 9 && d3 <= 9 {
				q = ip*1000 + int64(d0)*100 + int64(d1)*10 + int64(d2)
				if d3 >= 5 {
					q++
				}
				i = skipDigits(b, i+4)
				if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
					return quantiseSlow(b, start, exp)
				}
				if q > maxHistMagnitude {
					return 0, i, false
				}
				if neg {
					q = -q
				}
				return q, i, true
			}
		}
		for ; k < exp && i < len(b) && b[i]-'0' <= 9; k++ {
			frac = frac*10 + int64(b[i]-'0')
			i++
		}
		if i < len(b) && b[i]-'0' <= 9 {
			up = b[i] >= '5'
			i++
			i = skipDigits(b, i)
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		return quantiseSlow(b, start, exp)
	}
	for ; k < exp; k++ {
		frac *= 10
	}
	q = ip*pow10[exp] + frac
	if up {
		q++
	}
	return signed(q, neg, i)
}

// quantiseStrict is quantise for exactly the form the stations write, a JSON number
// -?(0|[1-9][0-9]{0,11})\.[0-9]+ (no exponent), which it also validates: the validator
// then need not read the ~8,000 histogram numbers a second time. ok is false for any
// other input (exp other than 3 included), which the caller validates and quantises
// the general way; when ok, q and next are what number() and quantise give.
func quantiseStrict(b []byte, i, exp int) (q int64, next int, ok bool) {
	if exp != 3 {
		return 0, 0, false
	}
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	if i >= len(b) {
		return 0, 0, false
	}
	var ip int64
	if b[i] == '0' {
		i++
	} else {
		n := 0
		for i < len(b) && b[i]-'0' <= 9 {
			ip = ip*10 + int64(b[i]-'0')
			i++
			n++
		}
		if n == 0 || n > 12 {
			return 0, 0, false
		}
	}
	if i >= len(b) || b[i] != '.' {
		return 0, 0, false
	}
	i++
	// Three fraction digits are kept, the fourth rounds (half away from zero), the rest
	// cannot change the result.
	var frac int64
	k := 0
	for k < 3 && i < len(b) && b[i]-'0' <= 9 {
		frac = frac*10 + int64(b[i]-'0')
		i++
		k++
	}
	if k == 0 {
		return 0, 0, false
	}
	up := false
	if k == 3 && i < len(b) && b[i]-'0' <= 9 {
		up = b[i] >= '5'
		i = skipDigits(b, i+1)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		return 0, 0, false
	}
	for ; k < 3; k++ {
		frac *= 10
	}
	q = ip*1000 + frac
	if up {
		q++
	}
	return signed(q, neg, i)
}

// skipDigits returns the index of the first non-digit at or after i (eight bytes at a
// time, as validator.digits).
func skipDigits(b []byte, i int) int {
	for i+8 <= len(b) {
		// A byte below '0' borrows in the first term, one above '9' carries into its
		// high bit in the second (or, from 0xBA, the first has it). Bytes below the
		// first non-digit neither borrow nor carry, so the lowest flagged byte is it.
		x := binary.LittleEndian.Uint64(b[i:])
		if m := ((x - 0x3030303030303030) | (x + 0x4646464646464646)) & 0x8080808080808080; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
		i += 8
	}
	for i < len(b) && b[i]-'0' <= 9 {
		i++
	}
	return i
}

// quantiseSlow is quantise for any number syntax (exponents, long integer parts).
func quantiseSlow(b []byte, i, exp int) (q int64, next int, ok bool) {
	neg := false
	if b[i] == '-' {
		neg = true
		i++
	}
	// digits of the mantissa (integer and fraction parts, leading zeros dropped) and
	// the position of the decimal point among them.
	var digits [24]byte
	nd, point := 0, 0
	sawPoint := false
	for ; i < len(b); i++ {
		c := b[i]
		if c >= '0' && c <= '9' {
			if nd == 0 && c == '0' {
				if sawPoint {
					point--
				}
				continue
			}
			if nd < len(digits) { // later digits never decide the rounding (point <= 13)
				digits[nd] = c
				nd++
			}
			if !sawPoint {
				point++
			}
			continue
		}
		if c == '.' {
			sawPoint = true
			continue
		}
		break
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		e := 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if e < 100000 {
				e = e*10 + int(b[i]-'0')
			}
		}
		if eneg {
			e = -e
		}
		if nd > 0 {
			point += e
		}
	}
	if nd == 0 {
		return 0, i, true
	}
	point += exp // digits before the point of value * 10^exp
	if point > 13 {
		return 0, i, false
	}
	for k := 0; k < point; k++ {
		d := int64(0)
		if k < nd {
			d = int64(digits[k] - '0')
		}
		q = q*10 + d
	}
	if point >= 0 && point < nd && digits[point] >= '5' {
		q++
	}
	return signed(q, neg, i)
}

// appendHist renders the quantised histogram as JSON: the same nesting, values as
// decimal numbers with at most exp fraction digits and always a point ("0.0", "7.741",
// "12.0", like the Python station firmware writes floats), separators ", " (or ","
// when the original was compact).
func appendHist(dst []byte, dims [3]int, exp int, compact bool, q []int64) []byte {
	sep := ", "
	if compact {
		sep = ","
	}
	k := 0
	dst = append(dst, '[')
	for a := range dims[0] {
		if a > 0 {
			dst = append(dst, sep...)
		}
		dst = append(dst, '[')
		for r := range dims[1] {
			if r > 0 {
				dst = append(dst, sep...)
			}
			dst = append(dst, '[')
			dst = appendValues(dst, q[k:k+dims[2]], exp, sep)
			k += dims[2]
			dst = append(dst, ']')
		}
		dst = append(dst, ']')
	}
	return append(dst, ']')
}

var pow10 = [...]int64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// frac3 holds the fraction digits of f/1000 for f < 1000 without trailing zeros ("0"
// for 0, "5" for 500, "005" for 5) in its low 3 bytes, their count in the top byte.
// Rendering a histogram value (0-29.2) is then its integer part, a point and one 4-byte
// store. 4 KB, built on first use.
var (
	frac3Once sync.Once
	frac3     *[1000]uint32
)

func frac3Table() *[1000]uint32 {
	frac3Once.Do(func() {
		t := new([1000]uint32)
		for f := range t {
			d := [3]byte{byte('0' + f/100), byte('0' + f/10%10), byte('0' + f%10)}
			n := 3
			for n > 1 && d[n-1] == '0' {
				n--
			}
			t[f] = uint32(d[0]) | uint32(d[1])<<8 | uint32(d[2])<<16 | uint32(n)<<24
		}
		frac3 = t
	})
	return frac3
}

// appendFixed writes q / 10^exp as a short decimal with a point ("0.0", "0.005", "12.5").
func appendFixed(dst []byte, q int64, exp int) []byte {
	return appendValues(dst, []int64{q}, exp, "")
}

// appendValues renders q with sep between values: the hot loop of appendHist (exp 3:
// a few stores per value into a buffer grown once).
func appendValues(dst []byte, q []int64, exp int, sep string) []byte {
	if exp != 3 {
		for i, v := range q {
			if i > 0 {
				dst = append(dst, sep...)
			}
			dst = appendFixedSlow(dst, v, exp)
		}
		return dst
	}
	t := frac3Table()
	n := len(dst)
	dst = slices.Grow(dst, len(q)*(8+len(sep)))
	buf := dst[:cap(dst)]
	for i, v := range q {
		if i > 0 {
			n += copy(buf[n:], sep)
		}
		if v < 0 || v >= 100_000 {
			// Rare (values outside 0-99.999): keep room for the rest at 8 bytes each.
			buf = appendFixedSlow(buf[:n], v, exp)
			n = len(buf)
			buf = slices.Grow(buf, (len(q)-i)*(8+len(sep)))
			buf = buf[:cap(buf)]
			continue
		}
		ip := v / 1000
		if ip >= 10 {
			buf[n] = byte('0' + ip/10)
			n++
		}
		buf[n] = byte('0' + ip%10)
		buf[n+1] = '.'
		e := t[v-ip*1000]
		binary.LittleEndian.PutUint32(buf[n+2:], e)
		n += 2 + int(e>>24)
	}
	return buf[:n]
}

func appendFixedSlow(dst []byte, q int64, exp int) []byte {
	if q == 0 {
		return append(dst, "0.0"...)
	}
	if q < 0 {
		dst = append(dst, '-')
		q = -q
	}
	p := pow10[exp]
	dst = appendInt(dst, int(q/p))
	dst = append(dst, '.')
	frac := q % p
	if frac == 0 {
		return append(dst, '0')
	}
	var tmp [9]byte
	n := exp
	for j := n - 1; j >= 0; j-- {
		tmp[j] = byte('0' + frac%10)
		frac /= 10
	}
	for n > 1 && tmp[n-1] == '0' {
		n--
	}
	return append(dst, tmp[:n]...)
}

// canonical writes the stored form of the frame (what DecodeRaw returns) to w: the
// frame with its histogram re-rendered from the quantised values.
func (h *histSplit) canonical(frame []byte, buf []byte) []byte {
	buf = append(buf, frame[:h.start]...)
	buf = appendHist(buf, h.dims, h.exp, h.compact, h.q)
	return append(buf, frame[h.end:]...)
}

var renderPool = sync.Pool{New: func() any { return new([]byte) }}

// canonicalSum is the SHA-256 of h.canonical(frame) without building it whole.
func (h *histSplit) canonicalSum(frame []byte) [32]byte {
	d := sha256.New()
	d.Write(frame[:h.start])
	bp := renderPool.Get().(*[]byte)
	defer renderPool.Put(bp)
	*bp = appendHist((*bp)[:0], h.dims, h.exp, h.compact, h.q)
	d.Write(*bp)
	d.Write(frame[h.end:])
	var sum [32]byte
	d.Sum(sum[:0])
	return sum
}

// packHist appends the histogram payload: streams, each a mode byte (streamRaw or
// streamHuff0), its length (uvarint) and its bytes. Stream 1 is the zero bitmap (one
// bit per cell, LSB first: half the cells are exactly 0); then the non-zero values as
// byte planes, most significant first, of v-1 (signed=false: every value is
// non-negative, as in every real frame) or of zigzag(v)-1. Planes give the entropy
// coder one skewed stream (the high bytes: ~1 KB) and one of near-uniform noise (the low
// bytes: stored raw); each stream gets its own Huffman table (huff0, the entropy stage
// of zstd), which zstd's single table per block cannot do (~800 bytes less per frame).
func packHist(dst []byte, q []int64) (out []byte, planes int, signed bool) {
	var maxV uint64
	for _, v := range q {
		if v < 0 {
			signed = true
		}
	}
	sc := packPool.Get().(*packScratch)
	defer packPool.Put(sc)
	z := sc.z[:0]
	bm := append(sc.bm[:0], make([]byte, (len(q)+7)/8)...)
	for k, v := range q {
		if v == 0 {
			continue
		}
		bm[k>>3] |= 1 << (k & 7)
		u := uint64(v) - 1
		if signed {
			u = zigzag(v) - 1
		}
		maxV = max(maxV, u)
		z = append(z, u)
	}
	planes = 1
	for planes < 8 && maxV>>(8*planes) != 0 {
		planes++
	}
	s := huffPool.Get().(*huff0.Scratch)
	defer huffPool.Put(s)
	dst = appendStream(dst, bm, s)
	plane := slices.Grow(sc.plane[:0], len(z))[:len(z)]
	sc.z, sc.bm, sc.plane = z, bm, plane
	for p := planes - 1; p >= 0; p-- {
		shift := 8 * p
		for j, v := range z {
			plane[j] = byte(v >> shift)
		}
		dst = appendStream(dst, plane, s)
	}
	return dst, planes, signed
}

// packScratch is packHist's working memory, recycled: ~75 KB per frame that would
// otherwise be allocated and zeroed for every sample.
type packScratch struct {
	z         []uint64
	bm, plane []byte
}

var packPool = sync.Pool{New: func() any { return new(packScratch) }}

const (
	streamRaw   = 0
	streamHuff0 = 1
)

var huffPool = sync.Pool{New: func() any { return &huff0.Scratch{Reuse: huff0.ReusePolicyNone} }}

func appendStream(dst, b []byte, s *huff0.Scratch) []byte {
	if len(b) > 0 && len(b) <= huff0.BlockSizeMax && huffmanPays(b) {
		if out, _, err := huff0.Compress1X(b, s); err == nil && len(out) < len(b) {
			dst = append(dst, streamHuff0)
			dst = appendUvarint(dst, len(out))
			return append(dst, out...)
		}
	}
	dst = append(dst, streamRaw)
	dst = appendUvarint(dst, len(b))
	return append(dst, b...)
}

// huffmanPays estimates from the order-0 entropy whether Huffman coding saves at least
// 3% of b (plus ~64 bytes of table): the bitmap and the low-byte plane are near-uniform
// and would cost a table build for nothing.
func huffmanPays(b []byte) bool {
	var count [256]int
	for _, c := range b {
		count[c]++
	}
	n := float64(len(b))
	bits := 0.0
	for _, c := range count {
		if c > 0 {
			bits += float64(c) * math.Log2(n/float64(c))
		}
	}
	return bits/8+64 < 0.97*n
}

// readStream reads one stream of n bytes; it returns the rest of b.
func readStream(b []byte, n int) (out, rest []byte, ok bool) {
	if len(b) < 1 {
		return nil, nil, false
	}
	mode := b[0]
	size, b, ok := readUvarint(b[1:])
	if !ok || size > len(b) {
		return nil, nil, false
	}
	data, rest := b[:size], b[size:]
	switch mode {
	case streamRaw:
		return data, rest, size == n
	case streamHuff0:
		s, remain, err := huff0.ReadTable(data, nil)
		if err != nil {
			return nil, nil, false
		}
		s.MaxDecodedSize = n
		out, err := s.Decompress1X(remain)
		if err != nil || len(out) != n {
			return nil, nil, false
		}
		return out, rest, true
	}
	return nil, nil, false
}

// unpackHist is the inverse of packHist for n cells; it returns the unread rest of b.
func unpackHist(b []byte, n, planes int, signed bool) ([]int64, bool) {
	if planes < 1 || planes > 6 { // |q| <= maxHistMagnitude (2^40) needs at most 6
		return nil, false
	}
	bm, b, ok := readStream(b, (n+7)/8)
	if !ok {
		return nil, false
	}
	bm = bytes.Clone(bm) // huff0 output is the scratch's buffer
	nz := 0
	for k := range n {
		if bm[k>>3]&(1<<(k&7)) != 0 {
			nz++
		}
	}
	z := make([]uint64, nz)
	for range planes {
		var plane []byte
		if plane, b, ok = readStream(b, nz); !ok {
			return nil, false
		}
		for j := range z {
			z[j] = z[j]<<8 | uint64(plane[j])
		}
	}
	if len(b) != 0 {
		return nil, false
	}
	q := make([]int64, n)
	j := 0
	for k := range n {
		if bm[k>>3]&(1<<(k&7)) != 0 {
			if signed {
				q[k] = unzigzag(z[j] + 1)
			} else {
				q[k] = int64(z[j] + 1)
			}
			j++
		}
	}
	return q, true
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(z uint64) int64 { return int64(z>>1) ^ -int64(z&1) }

// header helpers
func appendUvarint(b []byte, v int) []byte { return binary.AppendUvarint(b, uint64(v)) }

func readUvarint(b []byte) (int, []byte, bool) {
	v, n := binary.Uvarint(b)
	if n <= 0 || v > 1<<30 {
		return 0, nil, false
	}
	return int(v), b[n:], true
}
