#!/usr/bin/env bash
# Side-by-side benchmark of Berth and CNCF Distribution (Debian's docker-registry), both started
# here on loopback with filesystem storage, same workload, medians of BENCH_RUNS runs (default 3).
# Prints each figure, the ratio (always > 1 when Berth is better), and throughput as a share of
# this machine's limits measured in the same run. Run by hand from anywhere: bash bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${BENCH_RUNS:-3}
BERTH=127.0.0.1:5601
DIST=127.0.0.1:5602
for tool in docker-registry wrk ab curl openssl python3; do
    command -v "$tool" >/dev/null || { echo "bench needs $tool (apt-get install -y docker-registry wrk apache2-utils curl openssl)"; exit 1; }
done

cargo build --release --quiet
W=$(mktemp -d /tmp/berth-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$W"' EXIT

BERTH_LOG=warn target/release/berth serve --listen $BERTH --data-dir "$W/berth" 2>"$W/berth.log" &
BERTH_PID=$!
cat >"$W/dist.yml" <<YML
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $W/dist}
  delete: {enabled: true}
http: {addr: $DIST}
YML
docker-registry serve "$W/dist.yml" >"$W/dist.log" 2>&1 &
DIST_PID=$!
for host in $BERTH $DIST; do
    for _ in $(seq 100); do curl -sf -o /dev/null "http://$host/v2/" && break; sleep 0.1; done
done

load() { python3 bench/load.py "$@"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN {printf "%.0f", b / s / 1e6}'; }

echo "machine limits..." >&2
SHA_MBPS=$(openssl speed -evp sha256 -bytes 16384 -seconds 2 2>/dev/null | awk '/^sha256/ {sub("k", "", $NF); printf "%.0f", $NF * 1000 / 1e6}')
LOOP_MBPS=$(load - loopback 4)
head -c 512M /dev/urandom >"$W/big"
head -c 64M /dev/urandom >"$W/mid"
BIG=$((512 << 20))
MID=$((64 << 20))

declare -A R
for name in berth dist; do
    [ $name = berth ] && host=$BERTH || host=$DIST
    echo "$name..." >&2
    for mode in mono chunked; do
        : >"$W/times"
        for i in $(seq "$RUNS"); do
            # A fresh digest each run, so no registry can skip the write as a duplicate.
            cp "$W/big" "$W/run" && printf '%s-%s-%s' $name $mode $i >>"$W/run"
            [ $mode = mono ] && chunk=0 || chunk=16
            read -r secs digest < <(load $host push "push/$mode$i" "$W/run" $chunk)
            echo "$(mbps $((BIG + 20)) "$secs")" >>"$W/times"
        done
        R[$name,push_$mode]=$(median <"$W/times")
    done
    R[$name,pull]=$(for i in $(seq "$RUNS"); do
        curl -sf -o /dev/null -w '%{speed_download}\n' "http://$host/v2/push/chunked$RUNS/blobs/$digest"
    done | median | awk '{printf "%.0f", $1 / 1e6}')
    read -r _ mid_digest < <(load $host push par/blob "$W/mid")
    R[$name,pull16]=$(for i in $(seq "$RUNS"); do
        start=$(date +%s%N)
        for _ in $(seq 16); do curl -sf -o /dev/null "http://$host/v2/par/blob/blobs/$mid_digest" & done
        wait # only this subshell's curls: the servers belong to the parent shell
        echo "$(mbps $((16 * MID)) "$(awk -v s="$start" -v e="$(date +%s%N)" 'BEGIN {print (e - s) / 1e9}')")"
    done | median)
    R[$name,puts]=$(for i in $(seq "$RUNS"); do load $host manifests "puts/r$i" 2000; done | median)
    mdigest=$(curl -sf -I -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$host/v2/puts/r1/manifests/t00000" |
        awk -F': ' 'tolower($1) == "docker-content-digest" {print $2}' | tr -d '\r')
    accept='Accept: application/vnd.oci.image.manifest.v1+json'
    wrk -c 32 -t 2 -d 10s --latency -H "$accept" "http://$host/v2/puts/r1/manifests/t00000" >"$W/wrk"
    R[$name,get_rps]=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$W/wrk")
    R[$name,get_p99]=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; print v}' "$W/wrk")
    # wrk waits for a body after HEAD; ApacheBench knows HEAD (-i). Its percentiles are whole ms.
    ab -i -k -c 32 -n 100000 -H "$accept" "http://$host/v2/puts/r1/manifests/$mdigest" >"$W/ab" 2>&1
    grep -q '^Non-2xx' "$W/ab" && { echo "HEAD by digest failed on $name"; exit 1; }
    R[$name,head_rps]=$(awk '/^Requests per second/ {printf "%.0f", $4}' "$W/ab")
    R[$name,head_p99]=$(awk '$1 == "99%" {print $2}' "$W/ab")
    load $host repos cat/r 200 >/dev/null
    R[$name,catalog]=$(load $host get "/v2/_catalog?n=1000")
    load $host manifests tags/many 1000 >/dev/null
    R[$name,tags]=$(load $host get "/v2/tags/many/tags/list")
done
R[berth,rss]=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' /proc/$BERTH_PID/status)
R[dist,rss]=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' /proc/$DIST_PID/status)

echo
echo "Berth vs CNCF Distribution $(docker-registry --version 2>/dev/null | awk '{print $NF}'), $RUNS run(s), $(nproc) cores."
echo "Machine limits: SHA-256 one core ${SHA_MBPS} MB/s; loopback TCP one stream ${LOOP_MBPS} MB/s."
echo "ratio > 1 means Berth is better (higher throughput, lower latency or memory)."
printf '%-34s %12s %12s %8s  %s\n' metric berth distribution ratio "berth as share of limit"
row() { # name key unit higher-is-better limit
    local b=${R[berth,$2]} d=${R[dist,$2]} ratio share=""
    if [ "$4" = up ]; then ratio=$(awk -v b="$b" -v d="$d" 'BEGIN {printf "%.2f", b / d}')
    else ratio=$(awk -v b="$b" -v d="$d" 'BEGIN {printf "%.2f", d / b}'); fi
    [ -n "${5:-}" ] && share=$(awk -v b="$b" -v l="$5" 'BEGIN {printf "%.0f%% of %s", 100 * b / l, l}')
    printf '%-34s %12s %12s %8s  %s\n' "$1 ($3)" "$b" "$d" "$ratio" "$share"
}
row "push 512 MiB monolithic" push_mono MB/s up "$SHA_MBPS"
row "push 512 MiB, 16 MiB PATCHes" push_chunked MB/s up "$SHA_MBPS"
row "pull 512 MiB" pull MB/s up "$LOOP_MBPS"
row "16 parallel pulls of 64 MiB" pull16 MB/s up "$LOOP_MBPS"
row "manifest GET by tag, wrk -c32" get_rps req/s up
row "manifest GET by tag p99" get_p99 ms down
row "manifest HEAD by digest, ab -c32" head_rps req/s up
row "manifest HEAD by digest p99" head_p99 ms down
row "2,000 manifest PUTs" puts PUT/s up
row "_catalog of 200 repositories" catalog ms down
row "tags/list of 1,000 tags" tags ms down
row "peak RSS" rss MiB down
