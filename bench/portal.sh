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
cd "$(dirname "$0")/.." || exit
. bench/lib.sh
REPOS=${BENCH_REPOSITORIES:-100000}
needs "apt-get install -y docker-registry" cargo curl python3 docker-registry
build_berth
workdir portal
read -r BP DP < <(ports 2)
BERTH=127.0.0.1:$BP DIST=127.0.0.1:$DP
cat >"$W/dist.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $W/dist}
http: {addr: $DIST}
YML

echo "seeding $REPOS repositories..." >&2
python3 bench/portal.py seed-distribution "$W/dist" "$REPOS"
serve_berth target/release/berth berth "$BERTH"
ready "http://$BERTH/v2/" "$SERVED" "$W/berth.log"
docker-registry serve "$W/dist.yml" >"$W/dist.log" 2>&1 &
PIDS+=("$!")
ready "http://$DIST/v2/" "$!" "$W/dist.log"
python3 bench/portal.py seed-berth "$W/berth/berth.db" "$REPOS"
for host in "$BERTH" "$DIST"; do python3 bench/portal.py seed-repository "$host" team/web-frontend; done

echo "## The portal's repository list among $REPOS repositories, $(git rev-parse --short HEAD), $(nproc) cores"
echo
echo "Berth vs CNCF Distribution $(docker-registry --version 2>/dev/null | awk '{print $NF}'), same run."
echo "Median of 25 requests over one keep-alive connection; the client runs on the same cores."
echo
python3 bench/portal.py pages "$BERTH" "$DIST" "$PASS" "$REPOS"
