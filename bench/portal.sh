#!/usr/bin/env bash
# The portal's repository list among BENCH_REPOSITORIES (default 100,000) repositories, beside
# the same page of names from the API and from CNCF Distribution 2.8 (Debian's docker-registry):
# builds Berth in release mode, starts both over fresh data directories, seeds the repositories
# (Berth: rows in its SQLite file, as pushes leave them; Distribution: its repository directories
# on disk, as pushes leave them, since pushing 100,000 images through it takes an hour), signs
# in to the portal, then prints the median time and weight of a page of 100 repositories at the
# start, the middle and the end, by name and by last update, and of a prefix search, beside
# `/v2/_catalog?n=100` on both registries; and of both tabs of a repository of 100 tags on 100
# manifests (pushed through the API) beside its tags/list. Run by hand: bash bench/portal.sh
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
REPOS=${BENCH_REPOSITORIES:-100000}
for tool in cargo curl python3 docker-registry; do
    command -v "$tool" >/dev/null || { echo "bench needs $tool (apt-get install -y docker-registry)" >&2; exit 1; }
done

echo "building berth (release)..." >&2
cargo build --release >&2

W=$(mktemp -d /tmp/berth-portal.XXXXXX)
PIDS=()
cleanup() {
    status=$?
    if [ "$status" != 0 ]; then tail -n 20 "$W"/*.log >&2 || true; fi
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port() { python3 -c 'import socket; s = socket.create_server(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
BERTH=127.0.0.1:$(port) DIST=127.0.0.1:$(port)
[ "$BERTH" != "$DIST" ] || DIST=127.0.0.1:$(port)
PASS=bench-admin-password
export BENCH_AUTH="Basic $(printf 'admin:%s' "$PASS" | base64)"
cat >"$W/dist.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $W/dist}
http: {addr: $DIST}
YML

echo "seeding $REPOS repositories..." >&2
python3 bench/portal.py seed-distribution "$W/dist" "$REPOS"
BERTH_ADMIN_PASSWORD=$PASS BERTH_LOG=warn target/release/berth serve --listen "$BERTH" --data-dir "$W/berth" \
    >"$W/berth.log" 2>&1 &
PIDS+=("$!")
docker-registry serve "$W/dist.yml" >"$W/dist.log" 2>&1 &
PIDS+=("$!")
for url in "http://$BERTH/v2/" "http://$DIST/v2/"; do
    for _ in $(seq 200); do
        curl -s -o /dev/null "$url" && break
        sleep 0.05
    done
done
python3 bench/portal.py seed-berth "$W/berth/berth.db" "$REPOS"
for host in "$BERTH" "$DIST"; do python3 bench/portal.py seed-repository "$host" team/web-frontend; done

echo "## The portal's repository list among $REPOS repositories, $(git rev-parse --short HEAD), $(nproc) cores"
echo
echo "Berth vs CNCF Distribution $(docker-registry --version 2>/dev/null | awk '{print $NF}'), same run."
echo "Median of 25 requests over one keep-alive connection; the client runs on the same cores."
echo
python3 bench/portal.py pages "$BERTH" "$DIST" "$PASS" "$REPOS"
