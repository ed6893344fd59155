// Command relay serves the relay function with the shared runtime.
package main

import (
	"github.com/sqalfn/sqal/functions/relay"
	"github.com/sqalfn/sqal/shared/runtime"
)

func main() { runtime.Main(relay.Function) }
