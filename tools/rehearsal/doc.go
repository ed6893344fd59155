// Package rehearsal rehearses the Knative deployment as separate local processes, since
// no cluster can run here: its test builds every function binary the way ko does
// (static, trimmed), starts each as its own process with the environment Knative gives
// it (knative/services/*.yaml and the sqal-config ConfigMap, plus PORT, K_SERVICE,
// K_REVISION, K_CONFIGURATION), a broker process applying knative/triggers
// (cmd/broker) and the gateway with the route table, then drives the station simulator
// through the gateway while it SIGTERMs and restarts ingest and alerts, and checks that
// nothing acknowledged is lost and every event is processed once.
//
// Run it with `go test ./tools/rehearsal/` (part of `make test`); -v prints the summary,
// which is also written to .local/rehearsal/summary.txt, next to the processes' logs.
package rehearsal
