// Command ai-api serves the AI read/write API (/api/ai/*): models, training jobs,
// predictions, metrics and datasets.
package main

import (
	aiapi "github.com/sqalfn/sqal/functions/ai-api"
	"github.com/sqalfn/sqal/shared/runtime"
)

func main() { runtime.Main(aiapi.Function) }
