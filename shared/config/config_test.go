package config

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"postgres://sqal:s3cret@db:5432/sqal?sslmode=disable", "postgres://sqal:xxxxx@db:5432/sqal?sslmode=disable"},
		{"postgres://sqal@db/sqal", "postgres://sqal@db/sqal"},
		{"redis://:topsecret@cache:6379/0", "redis://:xxxxx@cache:6379/0"},
		{"host=db user=sqal password=s3cret dbname=sqal", "host=db user=sqal password=xxxxx dbname=sqal"},
		{"host=db password='a b' dbname=x", "host=db password=xxxxx dbname=x"},
		{"postgres://db/sqal?password=s3cret", "postgres://db/sqal?password=xxxxx"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSecretsNotLogged(t *testing.T) {
	db := Database{URL: "postgres://u:hunter2@h/d"}
	rd := Redis{URL: "redis://:hunter2@h:1", Password: "hunter2"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "db", db, "redis", rd)
	out := buf.String() + fmt.Sprint(db) + fmt.Sprintf("%v %+v", rd, db)
	if strings.Contains(out, "hunter2") {
		t.Fatalf("secret leaked: %s", out)
	}
}

func TestLoadDefaultsAndOverrides(t *testing.T) {
	type fnConfig struct {
		Server   Server
		Database Database
		Redis    Redis
		Limit    int `env:"INGEST_MAX_GROUP, default=7"` // a function's own variable
	}
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c fnConfig)
	}{
		{"defaults", nil, func(t *testing.T, c fnConfig) {
			if c.Server.Port != "8080" || c.Database.MaxConns != 10 || c.Database.MinConns != 0 ||
				c.Redis.PoolSize != 20 || c.Server.ShutdownGrace != 25*time.Second || c.Limit != 7 {
				t.Errorf("unexpected defaults %+v", c)
			}
			if c.Redis.Enabled() {
				t.Error("redis enabled without address")
			}
		}},
		{"overrides", map[string]string{"PORT": "9000", "DB_MAX_CONNS": "3", "REDIS_ADDRS": "a:1,b:2", "SHUTDOWN_GRACE": "2s"},
			func(t *testing.T, c fnConfig) {
				if c.Server.Port != "9000" || c.Database.MaxConns != 3 || len(c.Redis.Addrs) != 2 || c.Server.ShutdownGrace != 2*time.Second {
					t.Errorf("overrides not applied %+v", c)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c fnConfig
			if err := Load(context.Background(), MapLookuper(tt.env), &c); err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
	var c fnConfig
	if err := Load(context.Background(), MapLookuper(map[string]string{"DB_MAX_CONNS": "many"}), &c); err == nil {
		t.Error("bad integer accepted")
	}
}
