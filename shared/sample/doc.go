// Package sample is the SQAL quality sample: one "sensor_data" frame of an ESP32
// station (sqal-contract §1.5), decoded, validated and adapted exactly as the contract's
// §1.6 requires (with the legacy grade-normalisation bug fixed), the values derived from
// it (§1.6.4), its mapping onto sensor_samples columns (§1.8), its compact lossless
// storage (raw_message) and the realtime "sensor_update" message built from it (§4.5).
//
// Every ingestion path (WebSocket, HTTP, CloudEvent) goes through Decode + Frame.Sample,
// so the rules live in one place.
package sample
