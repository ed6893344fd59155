module github.com/sqalfn/sqal/functions/train

go 1.26.0

require (
	github.com/sqalfn/sqal/functions/ai-api v0.0.0
	github.com/sqalfn/sqal/shared v0.0.0
)

replace (
	github.com/sqalfn/sqal/functions/ai-api => ../ai-api
	github.com/sqalfn/sqal/shared => ../../shared
)
