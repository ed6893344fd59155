// Package sample is the SQAL quality sample: one "sensor_data" frame of an ESP32
// station (sqal-contract §1.5), decoded, validated and adapted exactly as the contract's
// §1.6 requires (with the legacy grade-normalisation bug fixed), the values derived from
// it (§1.6.4), its mapping onto sensor_samples columns (§1.8), its compact storage
// (raw_message) and the realtime "sensor_update" message built from it (§4.5).
//
// Storage (raw.go, §1.8): raw_message keeps the whole frame. Everything in it is kept
// byte for byte except the 8x8x128 time-of-flight histogram (vl53l8ch_raw.bins_matrix),
// which is stored as fixed-point integers at 10^-3 (maximum absolute error 0.0005 on
// values 0-29.2), as §1.8 allows ("the histogram packed as integers"): its ~4,300
// full-precision noisy doubles alone exceed the storage budget. DecodeRaw returns the
// canonical frame (the original bytes, the histogram re-rendered at that precision);
// the integrity seal (seal.go) is the SHA-256 of the canonical frame, so it is
// verifiable from what is stored. Frames without such a histogram are stored byte-exact.
//
// Every ingestion path (WebSocket, HTTP, CloudEvent) goes through Decode + Frame.Sample,
// so the rules live in one place.
package sample
