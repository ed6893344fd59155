// Command sqal-api serves the SQAL quality read API (/api/sqal/*, /api/lots/{id}/qualite,
// /health, /openapi.json, /docs).
package main

import (
	sqalapi "github.com/sqalfn/sqal/functions/sqal-api"
	"github.com/sqalfn/sqal/shared/runtime"
)

func main() { runtime.Main(sqalapi.Function) }
