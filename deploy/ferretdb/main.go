// Command ferretdb-local runs FerretDB with its SQLite backend as the project's local
// MongoDB-compatible store. It embeds FerretDB's library package because the upstream
// command, built with `go install`, panics without its build/version file.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("data", "./data", "directory for the SQLite databases")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	// In WAL mode "normal" survives a crash of any process (kill -9 included) and skips
	// the fsync per commit that made every single-document write cost tens of
	// milliseconds; only a power loss can take the last commits. This is a development
	// and test store: production runs MongoDB.
	synchronous := flag.String("synchronous", "normal", "SQLite synchronous pragma: full or normal")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		log.Fatalf("bad -log-level: %s", err)
	}

	// FerretDB logs every connection open/close at info level, which drowns the
	// log file during test runs; warn keeps only what is worth reading.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		log.Fatal(err)
	}

	if err = os.MkdirAll(dir, 0o700); err != nil {
		log.Fatal(err)
	}

	// An absolute file: URL survives any working directory and escapes odd characters
	// in the path; the backend insists on the trailing slash.
	if *synchronous != "full" && *synchronous != "normal" {
		log.Fatalf("bad -synchronous: %q", *synchronous)
	}
	query := url.Values{"_pragma": {fmt.Sprintf("synchronous(%s)", *synchronous)}}
	sqliteURL := (&url.URL{
		Scheme:   "file",
		Path:     filepath.ToSlash(dir) + "/",
		RawQuery: query.Encode(),
	}).String()

	db, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Printed regardless of level: the launcher's log tail should show where we listen.
	log.Printf("ferretdb-local listening on %s, data in %s", *listen, dir)

	if err = db.Run(ctx); err != nil {
		log.Fatal(err)
	}

	log.Print("ferretdb-local stopped")
}
