module github.com/sqalfn/sqal/migrations

go 1.26.0
