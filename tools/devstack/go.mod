module github.com/sqalfn/sqal/tools/devstack

go 1.26.0

require github.com/sqalfn/sqal/shared v0.0.0

replace github.com/sqalfn/sqal/shared => ../../shared

require github.com/sqalfn/sqal/migrations v0.0.0

replace github.com/sqalfn/sqal/migrations => ../../migrations
