module github.com/sqalfn/sqal/tools/bench-ml

go 1.26.0

require (
	github.com/sqalfn/sqal/functions/predict v0.0.0
	github.com/sqalfn/sqal/shared v0.0.0
)

replace (
	github.com/sqalfn/sqal/functions/predict => ../../functions/predict
	github.com/sqalfn/sqal/shared => ../../shared
)
