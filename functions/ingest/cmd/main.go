// Command ingest serves the ingest function (/ws/sensors/, /api/ingest/*) with the
// shared runtime.
package main

import (
	"github.com/sqalfn/sqal/functions/ingest"
	"github.com/sqalfn/sqal/shared/runtime"
)

func main() { runtime.Main(ingest.Function) }
