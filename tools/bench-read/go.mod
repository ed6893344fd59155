module github.com/sqalfn/sqal/tools/bench-read

go 1.26.0

require (
	github.com/sqalfn/sqal/functions/sqal-api v0.0.0
	github.com/sqalfn/sqal/shared v0.0.0
	github.com/sqalfn/sqal/tools/datagen v0.0.0
)

replace (
	github.com/sqalfn/sqal/functions/sqal-api => ../../functions/sqal-api
	github.com/sqalfn/sqal/shared => ../../shared
	github.com/sqalfn/sqal/tools/datagen => ../datagen
)
