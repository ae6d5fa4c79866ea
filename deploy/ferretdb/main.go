// Command ferretdb-local runs FerretDB v2 in front of the local PostgreSQL with the
// DocumentDB extension, as the project's local MongoDB-compatible store. It embeds
// FerretDB's library package because the upstream command, built with `go install`,
// panics without its build/version file.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/v2/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	postgres := flag.String("postgresql-url", "postgres://postgres@127.0.0.1:5432/postgres", "PostgreSQL URL")
	stateDir := flag.String("state", "./state", "directory for FerretDB's state file")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		log.Fatalf("bad -log-level: %s", err)
	}

	dir, err := filepath.Abs(*stateDir)
	if err != nil {
		log.Fatal(err)
	}

	if err = os.MkdirAll(dir, 0o700); err != nil {
		log.Fatal(err)
	}

	// Telemetry off: the store runs on machines without a route to FerretDB's beacon,
	// and a development store has nothing to report.
	telemetry := false

	db, err := ferretdb.New(&ferretdb.Config{
		PostgreSQLURL: *postgres,
		ListenAddr:    *listen,
		StateDir:      dir,
		LogLevel:      level,
		LogOutput:     os.Stderr,
		Telemetry:     &telemetry,
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Printed regardless of level: the launcher's log tail should show where we listen.
	log.Printf("ferretdb-local listening on %s, state in %s", *listen, dir)
	db.Run(ctx)
	log.Print("ferretdb-local stopped")
}
