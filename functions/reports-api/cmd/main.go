// Command reports-api serves reports (with their generation jobs), scheduled reports,
// report templates, firmware versions and OTA campaigns, and the alert rules.
package main

import (
	reportsapi "github.com/sqalfn/sqal/functions/reports-api"
	"github.com/sqalfn/sqal/shared/runtime"
)

func main() { runtime.Main(reportsapi.Function) }
