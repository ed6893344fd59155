// Command train serves the train step (CloudEvent consumer of sqal.training.requested).
package main

import (
	"github.com/sqalfn/sqal/functions/train"
	"github.com/sqalfn/sqal/shared/runtime"
)

func main() { runtime.Main(train.Function) }
