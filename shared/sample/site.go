package sample

import "strings"

// KnownSites are the Euralis sites of sites_euralis (contract §2.2). Only these may be
// written into sqal_devices.site_code (foreign key); the store also checks the table.
var KnownSites = []string{"LL", "LS", "MT"}

// DeriveSite derives a site code from a device id when the frame carries none
// (contract §1.6.4): split on '_'; with >= 3 parts and part 2 equal to DEMO or DOCKER
// (any case) the candidate is part 3, otherwise (>= 2 parts) part 2; the uppercased
// candidate counts only if it is exactly two ASCII letters.
func DeriveSite(deviceID string) (site string, ok bool) {
	parts := strings.Split(deviceID, "_")
	var cand string
	switch {
	case len(parts) >= 3 && (strings.EqualFold(parts[1], "DEMO") || strings.EqualFold(parts[1], "DOCKER")):
		cand = parts[2]
	case len(parts) >= 2:
		cand = parts[1]
	default:
		return "", false
	}
	if len(cand) != 2 {
		return "", false
	}
	up := []byte{cand[0] &^ 0x20, cand[1] &^ 0x20} // ASCII uppercase; checked below
	for _, c := range up {
		if c < 'A' || c > 'Z' {
			return "", false
		}
	}
	return string(up), true
}

// IsKnownSite reports whether code is one of KnownSites.
func IsKnownSite(code string) bool {
	for _, s := range KnownSites {
		if s == code {
			return true
		}
	}
	return false
}
