package main

import (
	"github.com/sqalfn/sqal/functions/admin-api"
	"github.com/sqalfn/sqal/functions/ai-api"
	"github.com/sqalfn/sqal/functions/alerts"
	"github.com/sqalfn/sqal/functions/analysis-api"
	"github.com/sqalfn/sqal/functions/ingest"
	"github.com/sqalfn/sqal/functions/predict"
	"github.com/sqalfn/sqal/functions/realtime"
	"github.com/sqalfn/sqal/functions/reports-api"
	"github.com/sqalfn/sqal/functions/sqal-api"
	"github.com/sqalfn/sqal/functions/train"
	"github.com/sqalfn/sqal/shared/runtime"
)

// functions are every function the local stack serves in one process. The gateway is
// not among them: the runner itself plays the gateway (same route table, in-process).
var functions = []runtime.Function{
	ingest.Function,
	realtime.Function,
	alerts.Function,
	sqalapi.Function,
	analysisapi.Function,
	aiapi.Function,
	adminapi.Function,
	reportsapi.Function,
	predict.Function,
	train.Function,
}
