#!/usr/bin/env bash
# Builds the PostgreSQL extensions the local store needs and no registry here ships
# (DocumentDB as FerretDB v2.7.0 expects it, pg_cron, pgvector) from their upstream source
# archives, into a relocated copy of Debian's PostgreSQL 15:
#
#   bash deploy/store/build-extensions.sh SOURCES_DIR PREFIX
#
# SOURCES_DIR holds the archives named in deploy/store/sources.txt (each checked against
# its sha256 there); one it lacks is downloaded from its upstream into PREFIX's folder. PREFIX receives
# usr/lib/postgresql/15 and usr/share/postgresql/15: Debian's server, rum and PostGIS
# copied as installed, the three extensions installed over them. PostgreSQL finds its
# share and lib folders relative to its own binary, so the copy runs from anywhere.
# Progress to stderr; the Debian packages must be installed (deploy/store/packages.txt).
set -euo pipefail

SOURCES="$1"
PREFIX="$2"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PG_MAJOR=15
PG_CONFIG="/usr/lib/postgresql/$PG_MAJOR/bin/pg_config"
say() { printf 'store: %s\n' "$*" >&2; }

[[ -x $PG_CONFIG ]] || { say "error: $PG_CONFIG is missing (apt-get install postgresql-server-dev-$PG_MAJOR)"; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hoso-store-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# sources.txt: name sha256 url, one archive a line.
while read -r name sha url; do
    [[ -z $name || $name == \#* ]] && continue
    archive="$SOURCES/$name"
    if [[ ! -f $archive ]]; then
        archive="$(dirname "$PREFIX")/sources/$name"
    fi
    if [[ ! -f $archive ]]; then
        say "downloading $name from $url…"
        mkdir -p "$(dirname "$archive")"
        curl -fsSL --retry 3 -o "$archive.partial" "$url"
        mv "$archive.partial" "$archive"
    fi
    got="$(sha256sum <"$archive" | cut -d' ' -f1)"
    [[ $got == "$sha" ]] || { say "error: $archive has sha256 $got, expected $sha"; exit 1; }
    mkdir -p "$WORK/${name%.tar.gz}"
    tar -xzf "$archive" -C "$WORK/${name%.tar.gz}" --strip-components=1
done <"$HERE/sources.txt"

# Debian ships the Intel decimal library without a pkg-config file; DocumentDB asks for one.
mkdir -p "$WORK/pkgconfig"
cat >"$WORK/pkgconfig/intelmathlib.pc" <<PC
Name: intelmathlib
Description: Intel decimal floating-point math library (Debian's libintelrdfpmath-dev)
Version: 2.0
Libs: -L/usr/lib/$(gcc -print-multiarch) -lbidgcc000
Cflags: -I/usr/include
PC
export PKG_CONFIG_PATH="$WORK/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

STAGE="$WORK/root"
mkdir -p "$STAGE/usr/lib/postgresql" "$STAGE/usr/share/postgresql"
cp -a "/usr/lib/postgresql/$PG_MAJOR" "$STAGE/usr/lib/postgresql/"
cp -a "/usr/share/postgresql/$PG_MAJOR" "$STAGE/usr/share/postgresql/"

jobs="$(nproc)"
build() {
    local dir="$1"
    shift
    make -C "$dir" -j"$jobs" PG_CONFIG="$PG_CONFIG" with_llvm=no "$@" >>"$WORK/build.log" 2>&1 &&
        make -C "$dir" PG_CONFIG="$PG_CONFIG" with_llvm=no DESTDIR="$STAGE" "$@" install \
            >>"$WORK/build.log" 2>&1 || {
        tail -n 40 "$WORK/build.log" >&2
        say "error: building $dir failed"
        exit 1
    }
}
say "compiling pg_cron, pgvector and DocumentDB (about a minute)…"
build "$WORK/pg_cron-1.6.4"
build "$WORK/pgvector-e48241b4dcc0"
# Debian's libbson 1.23 predates BSON_SUBTYPE_SENSITIVE (8 in libbson 1.28).
documentdb_flags=("COPT=-DBSON_SUBTYPE_SENSITIVE=8 -Wno-error=switch")
build "$WORK/documentdb-3f80da90a9e0/pg_documentdb_core" "${documentdb_flags[@]}"
build "$WORK/documentdb-3f80da90a9e0/pg_documentdb" "${documentdb_flags[@]}"

rm -rf "$PREFIX.partial"
mkdir -p "$(dirname "$PREFIX")"
mv "$STAGE" "$PREFIX.partial"
rm -rf "$PREFIX"
mv "$PREFIX.partial" "$PREFIX"
