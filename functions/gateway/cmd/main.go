// Command gateway serves the gateway function with the shared runtime.
package main

import (
	"github.com/sqalfn/sqal/functions/gateway"
	"github.com/sqalfn/sqal/shared/runtime"
)

func main() { runtime.Main(gateway.Function) }
