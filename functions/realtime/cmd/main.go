// Command realtime serves /ws/realtime/ and the CloudEvents it fans out.
package main

import (
	"github.com/sqalfn/sqal/functions/realtime"
	"github.com/sqalfn/sqal/shared/runtime"
)

func main() { runtime.Main(realtime.Function) }
