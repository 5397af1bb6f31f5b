#!/usr/bin/env bash
# /acr/v1 listings of a large repository: builds Berth in release mode, starts it over a fresh
# data directory (SQLite, filesystem blobs), seeds one repository through the API (manifest
# PUTs, as clients push them) with BENCH_TAGS tags (default 100,000) over BENCH_MANIFESTS
# manifests (default 68,000), then prints the time of a 100-item page of tags and of manifests
# in each order at the start, the middle and near the end, RSS before and after, and the latency
# of a small request while 4 clients list deep pages. Run by hand: bash bench/listings.sh
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
MANIFESTS=${BENCH_MANIFESTS:-68000}
TAGS=${BENCH_TAGS:-100000}
for tool in cargo curl python3; do
    command -v "$tool" >/dev/null || { echo "bench needs $tool" >&2; exit 1; }
done

echo "building berth (release)..." >&2
cargo build --release >&2

W=$(mktemp -d /tmp/berth-listings.XXXXXX)
PID=
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(python3 -c 'import socket; s = socket.create_server(("127.0.0.1", 0)); print(s.getsockname()[1])')
HOST=127.0.0.1:$PORT
PASS=bench-admin-password
export BENCH_AUTH="Basic $(printf 'admin:%s' "$PASS" | base64)"
BERTH_ADMIN_PASSWORD=$PASS BERTH_LOG=warn target/release/berth serve --listen "$HOST" --data-dir "$W/berth" \
    >"$W/berth.log" 2>&1 &
PID=$!
for _ in $(seq 200); do
    curl -sf -o /dev/null "http://$HOST/v2/" && break
    kill -0 "$PID" 2>/dev/null || { cat "$W/berth.log" >&2; echo "berth exited" >&2; exit 1; }
    sleep 0.05
done

echo "seeding $TAGS tags over $MANIFESTS manifests through the API..." >&2
SEEDED=$(python3 bench/listings.py seed "$HOST" big "$MANIFESTS" "$TAGS" 4)
echo "seeded in $SEEDED" >&2

echo "## /acr/v1 listings, $(git rev-parse --short HEAD), $(nproc) cores"
echo
echo "Seeded through the API: $TAGS tags over $MANIFESTS manifests in one repository ($SEEDED)."
echo "100-item pages, median of 25 requests over one keep-alive connection."
echo
python3 bench/listings.py pages "$HOST" big "$W/berth/berth.db" "$PID"
