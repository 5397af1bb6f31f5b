#!/usr/bin/env bash
# Push rates as the registry grows: new blobs and new manifests per second with Berth and CNCF
# Distribution (Debian's docker-registry) holding 0, 100,000 and 1,000,000 images. Each size is a
# registry of its own, seeded straight into its storage while stopped by bench/growth.py (Berth:
# SQLite rows and blob objects, usage counters set to the sums; Distribution: its filesystem
# layout). Then each run starts every registry in turn and times, over one keep-alive
# connection, COUNT blob pushes (POST, PUT ?digest=) and COUNT manifest PUTs of digests it has
# not seen; medians of BENCH_RUNS runs. Berth's usage check (a full recount) is timed too.
#
# Run by hand: bash bench/growth.sh   Settings: GROWTH_SIZES (default "0 100000 1000000"),
# GROWTH_DIST_MAX (largest size seeded for Distribution, default 100000: a million images are
# ~18 million files and directories in its layout), GROWTH_COUNT (default 2000), BENCH_RUNS
# (default 3), BERTH_BIN (default target/release/berth, built here).
cd "$(dirname "$0")/.." || exit
. bench/lib.sh
RUNS=${BENCH_RUNS:-3} COUNT=${GROWTH_COUNT:-2000}
SIZES=${GROWTH_SIZES:-"0 100000 1000000"} DIST_MAX=${GROWTH_DIST_MAX:-100000}
needs "apt-get install -y docker-registry curl" cargo docker-registry curl python3
if [ -z "${BERTH_BIN:-}" ]; then
    build_berth
    BERTH_BIN=target/release/berth LABEL=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
fi

workdir growth
# One registry runs at a time, on one port: PID is the running one.
PID=
stop() { [ -z "$PID" ] || { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID= PIDS=(); }; }
HOST=127.0.0.1:$(ports 1)
start_berth() { # SIZE: the registry seeded with SIZE images ("empty": the template they are copied from)
    serve_berth "$BERTH_BIN" "berth-$1" "$HOST"
    PID=$SERVED
    ready "http://$HOST/v2/" "$PID" "$W/berth-$1.log" 30
}
start_dist() { # SIZE
    cat >"$W/dist.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $W/dist-$1}
  delete: {enabled: true}
http: {addr: $HOST}
YML
    docker-registry serve "$W/dist.yml" >>"$W/dist.log" 2>&1 &
    PID=$! && PIDS+=("$PID")
    ready "http://$HOST/v2/" "$PID" "$W/dist.log" 30
}
seeded() { # SIZE: a seeded image pulls (the seeding wrote what the registry reads)
    [ "$1" = 0 ] && return
    local k=$(($1 - 1)) tag repo
    repo=$(printf 'seed/r%04d' $((k / 1000))) tag=$(printf 't%09d' "$k")
    curl -sf -o /dev/null -u "admin:$PASS" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://$HOST/v2/$repo/manifests/$tag" || fail "seeded image $repo:$tag does not pull"
}
secs() { awk -v s="$1" -v e="$(date +%s%N)" 'BEGIN {printf "%.1f", (e - s) / 1e9}'; }

# Each size gets a registry of its own, seeded once; the runs then go round all of them in turn,
# so that a noisy neighbour slows every size alike rather than whichever ran last.
declare -A R
targets=()
start_berth empty # creates the database, its keys and the admin user
stop
for size in $SIZES; do
    cp -r "$W/berth-empty" "$W/berth-$size"
    t=$(date +%s%N)
    python3 bench/growth.py seed-berth "$W/berth-$size" 0 "$size"
    echo "berth: $size images seeded in $(secs "$t") s" >&2
    targets+=("berth $size")
    [ "$size" -le "$DIST_MAX" ] || continue
    t=$(date +%s%N)
    python3 bench/growth.py seed-dist "$W/dist-$size" 0 "$size"
    echo "distribution: $size images seeded in $(secs "$t") s" >&2
    targets+=("dist $size")
done
for i in $(seq "$RUNS"); do
    for target in "${targets[@]}"; do
        read -r name size <<<"$target"
        echo "run $i: $name at $size images" >&2
        "start_$name" "$size"
        seeded "$size"
        if [ "$name" = berth ]; then
            t=$(date +%s%N)
            check=$(curl -sf -X POST -u "admin:$PASS" "http://$HOST/berth/v1/usage/check" || echo none)
            case $check in
                none) ;; # a Berth without the check
                *'"repaired":true'*) fail "usage check repaired the seeded counters: $check" ;;
                *) awk -v s="$t" -v e="$(date +%s%N)" 'BEGIN {printf "%.0f\n", (e - s) / 1e6}' ;;
            esac >>"$W/$name-$size.check"
        fi
        python3 bench/growth.py blobs "$HOST" "new/blobs-$i" "$COUNT" >>"$W/$name-$size.blobs"
        python3 bench/growth.py manifests "$HOST" "new/manifests-$i" "$COUNT" >>"$W/$name-$size.manifests"
        stop
    done
done
for target in "${targets[@]}"; do
    read -r name size <<<"$target"
    for what in blobs manifests check; do
        [ -s "$W/$name-$size.$what" ] && R[$name,$size,$what]=$(median <"$W/$name-$size.$what")
    done
done
R_CHECK() { [ -n "${R[berth,$1,check]:-}" ] && echo "${R[berth,$1,check]} ms" || echo -; }

echo
echo "Berth ${LABEL:-$BERTH_BIN} vs CNCF Distribution $(docker-registry --version 2>/dev/null | awk '{print $NF}'): pushes per second into a registry of N images (N blobs + N manifests), $COUNT pushes per figure, medians of $RUNS runs, $(nproc) cores, one client connection."
fmt='%-12s %12s %12s %15s %15s %14s\n'
printf "$fmt" images "berth blob/s" "dist blob/s" "berth manif./s" "dist manif./s" "usage check"
for size in $SIZES; do
    printf "$fmt" "$size" "${R[berth,$size,blobs]}" "${R[dist,$size,blobs]:--}" "${R[berth,$size,manifests]}" \
        "${R[dist,$size,manifests]:--}" "$(R_CHECK "$size")"
done
