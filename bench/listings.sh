#!/usr/bin/env bash
# /acr/v1 listings of a large repository: builds Berth in release mode, starts it over a fresh
# data directory (SQLite, filesystem blobs), seeds one repository through the API (manifest
# PUTs, as clients push them) with BENCH_TAGS tags (default 100,000) over BENCH_MANIFESTS
# manifests (default 68,000), then prints the time of a 100-item page of tags and of manifests
# in each order at the start, the middle and near the end, RSS before and after, and the latency
# of a small request while 4 clients list deep pages. Run by hand: bash bench/listings.sh
cd "$(dirname "$0")/.." || exit
. bench/lib.sh
MANIFESTS=${BENCH_MANIFESTS:-68000}
TAGS=${BENCH_TAGS:-100000}
needs "" cargo curl python3
build_berth
workdir listings
HOST=127.0.0.1:$(ports 1)
serve_berth target/release/berth berth "$HOST"
PID=$SERVED
ready "http://$HOST/v2/" "$PID" "$W/berth.log"

echo "seeding $TAGS tags over $MANIFESTS manifests through the API..." >&2
SEEDED=$(python3 bench/listings.py seed "$HOST" big "$MANIFESTS" "$TAGS" 4)
echo "seeded in $SEEDED" >&2

echo "## /acr/v1 listings, $(git rev-parse --short HEAD), $(nproc) cores"
echo
echo "Seeded through the API: $TAGS tags over $MANIFESTS manifests in one repository ($SEEDED)."
echo "100-item pages, median of 25 requests over one keep-alive connection."
echo
python3 bench/listings.py pages "$HOST" big "$W/berth/berth.db" "$PID"
