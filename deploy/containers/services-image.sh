#!/usr/bin/env bash
# Builds the services' image from deploy/Dockerfile, the file Docker users build, with
# podman and without any registry: its two FROM images are made here first.
#
#   - hoso/python:3.11-bookworm: Debian bookworm's Python 3.11 on the locally made Debian
#     base (deploy/containers/setup.sh's hoso/base:bookworm), passed as the BASE argument
#     in place of python:3.11-slim;
#   - ghcr.io/astral-sh/uv:<UV_VERSION>: the Dockerfile's pinned uv, from the same
#     release's wheel on PyPI, tagged with the name the Dockerfile copies it from.
#
#   eval "$(bash deploy/containers/setup.sh)"            # the podman API service, the base
#   eval "$(bash deploy/containers/services-image.sh)"   # exports HOSO_SERVICES_IMAGE
#
# The builds reach the package indexes (apt for Python; uv for the locked dependencies,
# through the build's uv cache mount, which podman keeps between builds). An image whose
# inputs are unchanged is not rebuilt. Progress goes to stderr; stdout carries only the
# export line. Environment: HOSO_LOCAL_DIR (cache, default <repo>/.local).
set -euo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/deploy/containers"
LOCAL="${HOSO_LOCAL_DIR:-$ROOT/.local}"
CACHE="$LOCAL/containers"
BASE_IMAGE="hoso/base:bookworm"
PYTHON_IMAGE="hoso/python:3.11-bookworm"
SERVICES_IMAGE="hoso:local"
UV_VERSION="$(sed -n 's/^ARG UV_VERSION=\(.*\)$/\1/p' "$ROOT/deploy/Dockerfile")"
UV_IMAGE="ghcr.io/astral-sh/uv:$UV_VERSION"

export CONTAINERS_CONF="$HERE/containers.conf"

say() { printf 'services-image: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

started=$SECONDS
[[ -n $UV_VERSION ]] || die "deploy/Dockerfile has no ARG UV_VERSION=<version>"
[[ $(id -u) -eq 0 ]] || die "run as root (rootful podman)"
command -v podman >/dev/null 2>&1 || die "podman is missing: run deploy/containers/setup.sh first"
podman image exists "$BASE_IMAGE" || die "$BASE_IMAGE is missing: run deploy/containers/setup.sh first"

mkdir -p "$CACHE"
exec 9>"$CACHE/services-image.lock"
flock 9

inputs_of() {
    podman image inspect --format '{{ index .Labels "hoso.inputs" }}' "$1" 2>/dev/null || true
}

image_id() {
    podman image inspect --format '{{ .Id }}' "$1"
}

# Digest of files' paths (relative to the repository) and contents.
digest_files() {
    local file
    for file in "$@"; do
        printf '%s %s\n' "${file#"$ROOT"/}" "$(sha256sum <"$file" | cut -d' ' -f1)"
    done | sha256sum | cut -d' ' -f1
}

# replace IMAGE OLD_ID: drops the image IMAGE's tag used to point to, once rebuilt.
drop_replaced() {
    local image="$1" old="$2"
    if [[ -n $old && $old != "$(image_id "$image")" ]]; then
        podman rmi "$old" >/dev/null 2>&1 || true
    fi
}

ensure_python() {
    local want old
    want="$(printf '%s %s' "$(digest_files "$HERE/python/Containerfile")" "$(image_id "$BASE_IMAGE")" |
        sha256sum | cut -d' ' -f1)"
    [[ $(inputs_of "$PYTHON_IMAGE") == "$want" ]] && return 0
    old="$(image_id "$PYTHON_IMAGE" 2>/dev/null || true)"
    say "building $PYTHON_IMAGE (Debian's python3.11)…"
    # --network=host: apt-get reaches the Debian mirror the host uses.
    if ! podman build --quiet --pull=never --network=host --layers=false \
        --build-arg "BASE=$BASE_IMAGE" --label "hoso.inputs=$want" \
        -t "$PYTHON_IMAGE" "$HERE/python" >"$CACHE/python-image.log" 2>&1; then
        tail -n 30 "$CACHE/python-image.log" >&2
        die "the build failed (log: $CACHE/python-image.log)"
    fi
    drop_replaced "$PYTHON_IMAGE" "$old"
}

ensure_uv() {
    local want old wheels="$CACHE/uv-$UV_VERSION" context="$CACHE/build/uv"
    want="$(printf '%s %s' "$(digest_files "$HERE/uv/Containerfile")" "$UV_VERSION" |
        sha256sum | cut -d' ' -f1)"
    [[ $(inputs_of "$UV_IMAGE") == "$want" ]] && return 0
    old="$(image_id "$UV_IMAGE" 2>/dev/null || true)"
    if ! compgen -G "$wheels/uv-$UV_VERSION-*.whl" >/dev/null; then
        say "fetching uv $UV_VERSION's wheel (PyPI)…"
        rm -rf "$wheels"
        python3 -m pip download --quiet --no-deps --only-binary=:all: \
            --platform manylinux_2_17_x86_64 --python-version 3.11 \
            -d "$wheels" "uv==$UV_VERSION" >&2
    fi
    rm -rf "$context"
    mkdir -p "$context"
    python3 - "$context" "$wheels"/uv-"$UV_VERSION"-*.whl <<'PY'
import sys
import zipfile
from pathlib import Path

out, wheel = Path(sys.argv[1]), sys.argv[2]
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        if "/scripts/" in name and Path(name).name in {"uv", "uvx"}:
            target = out / Path(name).name
            target.write_bytes(archive.read(name))
            target.chmod(0o755)
missing = {"uv", "uvx"} - {p.name for p in out.iterdir()}
if missing:
    raise SystemExit(f"{wheel} has no {sorted(missing)}")
PY
    cp "$HERE/uv/Containerfile" "$context/"
    say "building $UV_IMAGE from the wheel…"
    podman build --quiet --pull=never --network=none --layers=false \
        --label "hoso.inputs=$want" -t "$UV_IMAGE" "$context" >/dev/null
    rm -rf "$context"
    drop_replaced "$UV_IMAGE" "$old"
}

# Everything the Dockerfile's build context holds (.dockerignore), plus the Dockerfile
# and the two base images.
services_inputs() {
    local files
    mapfile -t files < <(cd "$ROOT" && find pyproject.toml uv.lock .dockerignore deploy/Dockerfile \
        deploy/docker/keygen.py deploy/docker/healthcheck.py libs services -type f \
        -not -path '*/__pycache__/*' -not -name '*.pyc' -not -path '*/.*_cache/*' | sort)
    printf '%s %s %s' "$(digest_files "${files[@]/#/$ROOT/}")" \
        "$(image_id "$PYTHON_IMAGE")" "$(image_id "$UV_IMAGE")" | sha256sum | cut -d' ' -f1
}

ensure_services() {
    local want old secret=()
    want="$(services_inputs)"
    [[ $(inputs_of "$SERVICES_IMAGE") == "$want" ]] && return 0
    old="$(image_id "$SERVICES_IMAGE" 2>/dev/null || true)"
    # The host's CA bundle, as the Dockerfile's optional build secret: a TLS-inspecting
    # proxy between this machine and the package index is trusted by the host alone.
    local bundle="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}"
    if [[ -s $bundle ]]; then
        secret=(--secret "id=ca-bundle,src=$bundle")
    fi
    say "building $SERVICES_IMAGE from deploy/Dockerfile…"
    local t0=$SECONDS
    # --format docker: OCI images have no HEALTHCHECK. --network=host: uv reaches PyPI.
    # --layers=false: the uv cache mount, not intermediate images, makes rebuilds quick.
    if ! podman build --quiet --pull=never --format docker --network=host --layers=false \
        --build-arg "BASE=$PYTHON_IMAGE" "${secret[@]}" --label "hoso.inputs=$want" \
        -f "$ROOT/deploy/Dockerfile" -t "$SERVICES_IMAGE" "$ROOT" >"$CACHE/services-image.log" 2>&1; then
        tail -n 30 "$CACHE/services-image.log" >&2
        die "the build failed (log: $CACHE/services-image.log)"
    fi
    drop_replaced "$SERVICES_IMAGE" "$old"
    say "$SERVICES_IMAGE built in $((SECONDS - t0)) s"
}

ensure_python
ensure_uv
ensure_services
rmdir "$CACHE/build" 2>/dev/null || true
say "ready in $((SECONDS - started)) s: $SERVICES_IMAGE ($(podman image inspect --format '{{ .Size }}' "$SERVICES_IMAGE") bytes)"

echo "export HOSO_SERVICES_IMAGE=$SERVICES_IMAGE"
