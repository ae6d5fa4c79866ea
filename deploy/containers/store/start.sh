#!/bin/sh
# PostgreSQL with DocumentDB on the container's loopback, then FerretDB in front of it as
# the container's main process (its exit ends the container).
set -eu
PGBIN=/opt/hoso/pg/usr/lib/postgresql/15/bin
DATA=/data/pg
mkdir -p /data
chown postgres:postgres /data
if [ ! -f "$DATA/PG_VERSION" ]; then
    runuser -u postgres -- "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    printf "\ninclude = '/etc/hoso/postgresql.conf'\n" >>"$DATA/postgresql.conf"
fi
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DATA" -w -l /data/postgresql.log \
    -o "-c listen_addresses=127.0.0.1 -c port=5432" start >/dev/null
PGOPTIONS='-c client_min_messages=warning' runuser -u postgres -- "$PGBIN/psql" \
    -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -qc 'CREATE EXTENSION IF NOT EXISTS documentdb CASCADE' 
exec /opt/hoso/ferretdb-local -listen 0.0.0.0:27017 \
    -postgresql-url postgres://postgres@127.0.0.1:5432/postgres -state /data/ferretdb \
    -log-level error
