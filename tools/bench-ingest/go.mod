module github.com/sqalfn/sqal/tools/bench-ingest

go 1.26.0

require github.com/sqalfn/sqal/shared v0.0.0

replace (
	github.com/sqalfn/sqal/migrations => ../../migrations
	github.com/sqalfn/sqal/shared => ../../shared
)
