package ingest

import "github.com/sqalfn/sqal/shared/runtime"

func init() { runtime.Register(Function) }
