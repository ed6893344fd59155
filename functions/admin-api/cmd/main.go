// Command admin-api serves the administration and organisation API (/api/admin/*,
// /api/organizations/*, /api/users/*).
package main

import (
	adminapi "github.com/sqalfn/sqal/functions/admin-api"
	"github.com/sqalfn/sqal/shared/runtime"
)

func main() { runtime.Main(adminapi.Function) }
