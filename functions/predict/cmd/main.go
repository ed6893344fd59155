// Command predict serves the predict step: CloudEvents (sqal.sample.stored,
// sqal.model.activated) at / and the Open Inference Protocol v2 under /v2/.
package main

import (
	"github.com/sqalfn/sqal/functions/predict"
	"github.com/sqalfn/sqal/shared/runtime"
)

func main() { runtime.Main(predict.Function) }
