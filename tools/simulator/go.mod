module github.com/sqalfn/sqal/tools/simulator

go 1.26.0

require (
	github.com/coder/websocket v1.8.15
	// Tests only: the simulator is tested against the real functions (e2e/).
	github.com/sqalfn/sqal/functions/alerts v0.0.0
	github.com/sqalfn/sqal/functions/ingest v0.0.0
	github.com/sqalfn/sqal/functions/realtime v0.0.0
	github.com/sqalfn/sqal/shared v0.0.0
)

replace (
	github.com/sqalfn/sqal/functions/alerts => ../../functions/alerts
	github.com/sqalfn/sqal/functions/ingest => ../../functions/ingest
	github.com/sqalfn/sqal/functions/realtime => ../../functions/realtime
	github.com/sqalfn/sqal/migrations => ../../migrations
	github.com/sqalfn/sqal/shared => ../../shared
)
