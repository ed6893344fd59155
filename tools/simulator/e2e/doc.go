// Package e2e holds the end-to-end test of the sample pipeline: station -> ingest ->
// outbox -> event bus (the repository's Trigger files) -> alerts and realtime -> a
// dashboard on another realtime instance. Only tests live here.
package e2e
