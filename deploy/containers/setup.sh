#!/usr/bin/env bash
# Prepares the container path of the tests on a machine without Docker and without a
# reachable image registry: Debian's podman, its Docker-compatible API socket, and the two
# images the tests start (Kafka; the store: PostgreSQL with DocumentDB behind FerretDB),
# built here from what the local launcher already fetches and builds (deploy/kafka/pom.xml,
# deploy/store/, deploy/ferretdb/).
#
#   eval "$(bash deploy/containers/setup.sh)"   # then run pytest with HOSO_TEST_INFRA=containers
#
# Idempotent: a second run finds the packages installed, the service answering and the
# images built from the same inputs, and does nothing. Progress goes to stderr; stdout
# carries only the `export` lines for the shell that evaluates it.
#
# The API service belongs to this checkout: its socket's name carries a digest of the
# checkout's path, and one answering there that this checkout did not start (its pid file
# names another process) is replaced, so a service left by a deleted clone is never used.
#
# Environment: HOSO_LOCAL_DIR (cache, default <repo>/.local), HOSO_PODMAN_SOCKET (default
# /run/hoso-podman-<digest>.sock), HOSO_DEBIAN_MIRROR (default: the mirror apt uses).
set -euo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/deploy/containers"
LOCAL="${HOSO_LOCAL_DIR:-$ROOT/.local}"
CACHE="$LOCAL/containers"
SOCKET="${HOSO_PODMAN_SOCKET:-/run/hoso-podman-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12).sock}"
SUITE="bookworm"
# The broker's JRE and the store's PostgreSQL with the extensions Debian ships; one base
# for both images, so one debootstrap.
BASE_PACKAGES="openjdk-17-jre-headless,postgresql-15,postgresql-15-rum,postgresql-15-postgis-3,libbson-1.0-0"
# Bump the last field when the way the base is made changes, so cached bases are remade.
BASE_SPEC="debootstrap minbase $SUITE $BASE_PACKAGES 2"
BASE_IMAGE="hoso/base:$SUITE"
ROOTFS_TAR="$CACHE/base-$SUITE.rootfs.tar"

KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/deploy/kafka/pom.xml")"
FERRETDB_VERSION="$(sed -n 's:^require github.com/FerretDB/FerretDB/v2 v\(.*\)$:\1:p' "$ROOT/deploy/ferretdb/go.mod")"
KAFKA_IMAGE="hoso/kafka:$KAFKA_VERSION"
STORE_IMAGE="hoso/ferretdb:$FERRETDB_VERSION"

export CONTAINERS_CONF="$HERE/containers.conf"
if command -v uv >/dev/null 2>&1; then UV=(uv); else UV=(python3 -m uv); fi

say() { printf 'containers: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

started=$SECONDS
[[ -n $KAFKA_VERSION && -n $FERRETDB_VERSION ]] ||
    die "cannot read the Kafka version (deploy/kafka/pom.xml) or FerretDB's (deploy/ferretdb/go.mod)"
# Rootful podman: debootstrap, chroot and the CNI bridge all need root, and the project's
# machines (CI included) run as root.
[[ $(id -u) -eq 0 ]] || die "run as root (rootful podman, debootstrap)"

mkdir -p "$CACHE"
# Two setups at once (a developer and a test run) would build the same images twice.
exec 9>"$CACHE/setup.lock"
flock 9

# ------------------------------------------------------------------ packages

install_packages() {
    local missing=() check
    # command or file that shows the package is there, then the package
    for check in podman:podman runc:runc debootstrap:debootstrap newuidmap:uidmap \
        slirp4netns:slirp4netns iptables:iptables \
        /usr/lib/cni/bridge:containernetworking-plugins; do
        local what="${check%%:*}" package="${check##*:}"
        if [[ $what == /* ]]; then
            [[ -e $what ]] || missing+=("$package")
        else
            command -v "$what" >/dev/null 2>&1 || missing+=("$package")
        fi
    done
    ((${#missing[@]})) || return 0
    say "installing ${missing[*]} (apt-get)…"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >&2
}

# ------------------------------------------------------------------ API service

service_answers() {
    podman --url "unix://$SOCKET" version >/dev/null 2>&1
}

# Whether the service answering is the one this checkout started.
service_is_ours() {
    local pid
    pid="$(cat "$CACHE/podman-service.pid" 2>/dev/null)" || return 1
    [[ -n $pid ]] && grep -qa "system.service" "/proc/$pid/cmdline" 2>/dev/null &&
        grep -qa -- "$SOCKET" "/proc/$pid/cmdline" 2>/dev/null
}

start_service() {
    if service_answers; then
        service_is_ours && return 0
        say "a podman service this checkout did not start answers on $SOCKET; replacing it"
        fuser -k "$SOCKET" >/dev/null 2>&1 || true
        pkill -f "podman system service --time=0 unix://$SOCKET" || true
        sleep 0.5
    fi
    # A socket file left by a service that died would make the new one fail to bind.
    rm -f "$SOCKET"
    say "starting podman's API service on $SOCKET…"
    # setsid + nohup: the service outlives this script and the make target that ran it;
    # its output goes to a log so that `$(setup.sh)` does not wait for it to close stdout,
    # and it must not inherit the lock (fd 9), or the next setup would wait for it forever.
    setsid nohup podman system service --time=0 "unix://$SOCKET" \
        >>"$CACHE/podman-service.log" 2>&1 </dev/null 9>&- &
    echo $! >"$CACHE/podman-service.pid"
    local _
    for _ in $(seq 100); do
        service_answers && return 0
        sleep 0.2
    done
    tail -n 20 "$CACHE/podman-service.log" >&2 || true
    die "podman's API service did not answer on $SOCKET"
}

# ------------------------------------------------------------------ images

# The digest of an image's inputs, stored as a label: a differing digest means rebuild.
inputs_of() {
    podman image inspect --format '{{ index .Labels "hoso.inputs" }}' "$1" 2>/dev/null || true
}

# Digest of the files' names and contents, not their paths: a clone elsewhere (CI's) must
# find the images it would build already there.
digest() {
    local file
    for file in "$@"; do
        printf '%s %s\n' "${file##*/}" "$(sha256sum <"$file" | cut -d' ' -f1)"
    done | sha256sum | cut -d' ' -f1
}

# Unmounts what debootstrap may have left mounted in a half-made root filesystem, so that
# removing it can never reach the host's /proc or /sys.
remove_rootfs() {
    local dir="$1" mount
    [[ -d $dir ]] || return 0
    findmnt -n -l -o TARGET | sort -r | while read -r mount; do
        if [[ $mount == "$dir"/* ]]; then
            umount -l "$mount"
        fi
    done
    rm -rf --one-file-system "$dir"
}

debian_mirror() {
    if [[ -n ${HOSO_DEBIAN_MIRROR:-} ]]; then
        echo "$HOSO_DEBIAN_MIRROR"
        return
    fi
    local uri
    # shellcheck disable=SC2016 # $(URI) is apt's placeholder, not the shell's
    uri="$(apt-get indextargets --format '$(URI)' 'Identifier: Packages' 2>/dev/null |
        grep -m1 "/dists/$SUITE/main/" | sed 's:/dists/.*::' || true)"
    echo "${uri:-http://deb.debian.org/debian}"
}

build_rootfs_tar() {
    local rootfs="$CACHE/rootfs.partial" mirror
    mirror="$(debian_mirror)"
    remove_rootfs "$rootfs"
    say "making a Debian $SUITE root filesystem with $BASE_PACKAGES from $mirror (first run)…"
    local t0=$SECONDS
    if ! debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$rootfs" "$mirror" \
        >"$CACHE/debootstrap.log" 2>&1; then
        tail -n 30 "$CACHE/debootstrap.log" >&2
        remove_rootfs "$rootfs"
        die "debootstrap failed (log: $CACHE/debootstrap.log)"
    fi
    # Package caches and documentation are a third of the tree and no use to a server.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc "$rootfs"/usr/share/man "$rootfs"/usr/share/info
    tar --numeric-owner --xattrs --one-file-system -C "$rootfs" -cf "$ROOTFS_TAR.partial" .
    mv "$ROOTFS_TAR.partial" "$ROOTFS_TAR"
    printf '%s\n' "$BASE_SPEC" >"$ROOTFS_TAR.spec"
    remove_rootfs "$rootfs"
    say "root filesystem: $(du -h "$ROOTFS_TAR" | cut -f1) in $((SECONDS - t0)) s"
}

ensure_base() {
    local want
    want="$(printf '%s' "$BASE_SPEC" | sha256sum | cut -d' ' -f1)"
    [[ $(inputs_of "$BASE_IMAGE") == "$want" ]] && return 0
    if [[ ! -f $ROOTFS_TAR || $(cat "$ROOTFS_TAR.spec" 2>/dev/null) != "$BASE_SPEC" ]]; then
        build_rootfs_tar
    fi
    say "importing $BASE_IMAGE…"
    podman import --quiet --change "LABEL hoso.inputs=$want" --change 'CMD ["/bin/bash"]' \
        "$ROOTFS_TAR" "$BASE_IMAGE" >/dev/null
}

kafka_libs() {
    local pom="$ROOT/deploy/kafka/pom.xml" libs="$CACHE/kafka-libs" want
    want="$(digest "$pom")"
    if [[ $(cat "$libs/.pom.sha256" 2>/dev/null) != "$want" ]]; then
        command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is needed to fetch the Kafka jars"
        say "fetching the Kafka $KAFKA_VERSION jars (Maven)…"
        rm -rf "$libs.partial"
        if ! mvn -B -f "$pom" dependency:copy-dependencies \
            -DoutputDirectory="$libs.partial" -DincludeScope=runtime >"$CACHE/maven.log" 2>&1; then
            tail -n 30 "$CACHE/maven.log" >&2
            die "Maven could not fetch the Kafka jars (log: $CACHE/maven.log)"
        fi
        rm -rf "$libs"
        mv "$libs.partial" "$libs"
        printf '%s\n' "$want" >"$libs/.pom.sha256"
    fi
    echo "$libs"
}

# What deploy/local.py builds (and rebuilds when deploy/ferretdb/ or deploy/store/
# changes): the FerretDB binary, then the PostgreSQL tree with the extensions, a line each.
store_builds() {
    (cd "$ROOT" && "${UV[@]}" run --frozen python - <<'PY'
import deploy.launcher as local

store = local.Store(local.layout())
store.prepare()
postgres = local.Postgres(local.layout())
postgres.prepare()
print(store.binary)
print(postgres.prefix)
PY
    )
}

# build IMAGE CONTEXT DIGEST [OPTION...]: replaces the image, dropping the one it replaces.
build() {
    local image="$1" context="$2" want="$3" old
    shift 3
    old="$(podman image inspect --format '{{ .Id }}' "$image" 2>/dev/null || true)"
    say "building $image…"
    # --pull=never: nothing can be pulled here, and the bases are local.
    # --network=none: the build steps need no network.
    # --layers=false: no intermediate images, which would dangle once the image is replaced.
    podman build --quiet --pull=never --network=none --layers=false \
        --label "hoso.inputs=$want" \
        "$@" -t "$image" "$context" >/dev/null
    if [[ -n $old && $old != "$(podman image inspect --format '{{ .Id }}' "$image")" ]]; then
        podman rmi "$old" >/dev/null 2>&1 || true
    fi
}

# Copies FILE... into a fresh build context; hard links keep the jars from being copied.
context_with() {
    local context="$1"
    shift
    rm -rf "$context"
    mkdir -p "$context"
    cp -al "$@" "$context/" 2>/dev/null || cp -a "$@" "$context/"
}

# The inputs are judged by their sources (the pom, the Go module), so an up-to-date image
# needs neither Maven nor Go.
ensure_kafka() {
    local want base_id
    base_id="$(podman image inspect --format '{{ .Id }}' "$BASE_IMAGE")"
    want="$(printf '%s %s' "$(digest "$ROOT/deploy/kafka/pom.xml" "$HERE"/kafka/*)" "$base_id" |
        sha256sum | cut -d' ' -f1)"
    [[ $(inputs_of "$KAFKA_IMAGE") == "$want" ]] && return 0
    local libs context="$CACHE/build/kafka"
    libs="$(kafka_libs)"
    context_with "$context" "$HERE"/kafka/*
    mkdir "$context/libs"
    cp -al "$libs"/*.jar "$context/libs/" 2>/dev/null || cp -a "$libs"/*.jar "$context/libs/"
    build "$KAFKA_IMAGE" "$context" "$want" --build-arg "BASE=$BASE_IMAGE"
    rm -rf "$context"
}

ensure_store() {
    local source="$ROOT/deploy/ferretdb" want base_id
    base_id="$(podman image inspect --format '{{ .Id }}' "$BASE_IMAGE")"
    want="$(printf '%s %s' "$(digest "$source/main.go" "$source/go.mod" "$source/go.sum" \
        "$ROOT"/deploy/store/* "$HERE"/store/*)" "$base_id" | sha256sum | cut -d' ' -f1)"
    [[ $(inputs_of "$STORE_IMAGE") == "$want" ]] && return 0
    local builds binary prefix context="$CACHE/build/store"
    builds="$(store_builds)"
    binary="$(sed -n 1p <<<"$builds")"
    prefix="$(sed -n 2p <<<"$builds")"
    [[ -x $binary ]] || die "the FerretDB binary was not built"
    [[ -d $prefix ]] || die "PostgreSQL's extensions were not built"
    context_with "$context" "$HERE"/store/* "$binary" "$ROOT/deploy/store/postgresql.conf"
    cp -al "$prefix" "$context/pg" 2>/dev/null || cp -a "$prefix" "$context/pg"
    build "$STORE_IMAGE" "$context" "$want" --build-arg "BASE=$BASE_IMAGE"
    rm -rf "$context"
}

install_packages
start_service
ensure_base
ensure_kafka
ensure_store
rmdir "$CACHE/build" 2>/dev/null || true
say "ready in $((SECONDS - started)) s: $KAFKA_IMAGE, $STORE_IMAGE on unix://$SOCKET"

cat <<EOF
export DOCKER_HOST=unix://$SOCKET
export TESTCONTAINERS_RYUK_DISABLED=true
export TESTCONTAINERS_CONNECTION_MODE=docker_host
EOF
