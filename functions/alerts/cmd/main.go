// Command alerts serves the alerts step (CloudEvent consumer of sqal.sample.stored).
package main

import (
	"github.com/sqalfn/sqal/functions/alerts"
	"github.com/sqalfn/sqal/shared/runtime"
)

func main() { runtime.Main(alerts.Function) }
