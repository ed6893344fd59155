package sample

import "strings"

// Normalised grades, best first (contract §1.6.2).
const (
	GradeAPlus  = "A+"
	GradeA      = "A"
	GradeB      = "B"
	GradeC      = "C"
	GradeReject = "REJECT"
)

// NormalizeGrade maps a device grade label onto A+, A, B, C or REJECT.
//
// The legacy backend tested "contains A" before B and C, so "GRADE_B" became A; this is
// the fixed, token-based algorithm of §1.6.2: trim and uppercase; anything mentioning
// REJET/REJECT is REJECT; otherwise split on every character that is not A-Z, 0-9 or '+'
// and take the first token that is exactly A+, A, B or C. ok is false when nothing matched.
func NormalizeGrade(label string) (grade string, ok bool) {
	u := strings.ToUpper(strings.TrimSpace(label))
	if strings.Contains(u, "REJET") || strings.Contains(u, "REJECT") {
		return GradeReject, true
	}
	isTokenByte := func(c byte) bool {
		return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+'
	}
	// Bytes >= 0x80 (non-ASCII letters such as É) are separators, as in the contract.
	for i := 0; i < len(u); {
		if !isTokenByte(u[i]) {
			i++
			continue
		}
		j := i
		for j < len(u) && isTokenByte(u[j]) {
			j++
		}
		switch tok := u[i:j]; tok {
		case GradeAPlus, GradeA, GradeB, GradeC:
			return tok, true
		}
		i = j
	}
	return "", false
}

// GradeRank orders grades for filters (§4.3): A+ = 5, A = 4, B = 3, C = 2,
// REJECT = 1, anything else 0.
func GradeRank(grade string) int {
	switch grade {
	case GradeAPlus:
		return 5
	case GradeA:
		return 4
	case GradeB:
		return 3
	case GradeC:
		return 2
	case GradeReject:
		return 1
	}
	return 0
}
