// Command analysis-api serves the former target's read endpoints the legacy SQAL
// dashboard calls: /api/analysis/*, /api/sensors/* and /api/dashboard/*.
package main

import (
	analysisapi "github.com/sqalfn/sqal/functions/analysis-api"
	"github.com/sqalfn/sqal/shared/runtime"
)

func main() { runtime.Main(analysisapi.Function) }
