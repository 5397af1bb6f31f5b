"""The scanner's cost: the peak memory of `berth serve` while it scans a 1 GiB image, and the
time of other images' pushes and pulls while it does, beside the same pushes and pulls on a
server that does not scan. Driven by bench/scan.sh; prints a table.
usage: scan.py WORKDIR SCANNING_HOST SCANNING_PID QUIET_HOST QUIET_PID"""
import gzip
import hashlib
import http.client
import io
import json
import os
import statistics
import sys
import tarfile
import threading
import time

WORK, SCAN_HOST, SCAN_PID, QUIET_HOST, QUIET_PID = sys.argv[1:6]
AUTH = os.environ["BENCH_AUTH"]
SMALL = 16 << 20
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "12"))


def request(host, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(host, timeout=600)
    h = {"Authorization": AUTH}
    h.update(headers or {})
    conn.request(method, path, body=body, headers=h)
    res = conn.getresponse()
    data = res.read()
    conn.close()
    return res.status, data


def push_blob(host, repo, path_or_bytes):
    if isinstance(path_or_bytes, bytes):
        digest, size = "sha256:" + hashlib.sha256(path_or_bytes).hexdigest(), len(path_or_bytes)
        body = path_or_bytes
    else:
        h = hashlib.sha256()
        with open(path_or_bytes, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest, size = "sha256:" + h.hexdigest(), os.path.getsize(path_or_bytes)
        body = open(path_or_bytes, "rb")
    status, text = request(host, "POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", body,
                           {"Content-Length": str(size), "Content-Type": "application/octet-stream"})
    assert status == 201, (status, text)
    return digest, size


def push_image(host, repo, tag, layer):
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    cd, cs = push_blob(host, repo, config)
    ld, ls = push_blob(host, repo, layer)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": ls}],
    }).encode()
    status, text = request(host, "PUT", f"/v2/{repo}/manifests/{tag}", manifest,
                           {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert status == 201, (status, text)
    return ld


def big_layer(path):
    """A 1 GiB image layer: a Debian status file and os-release, then 1,024 files of 1 MiB
    (half of them executables, which the Go build-info reader streams), gzip level 1."""
    with gzip.open(path, "wb", compresslevel=1) as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        def add(name, data, mode=0o644):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        add("etc/os-release", b'ID=debian\nVERSION_ID="12"\n')
        status = "".join(f"Package: pkg{i}\nStatus: install ok installed\nVersion: 1.{i}-1\n\n" for i in range(2000))
        add("var/lib/dpkg/status", status.encode())
        block = os.urandom(1 << 20)
        for i in range(1024):
            add(f"usr/share/data/{i:04}.bin", block[i:] + block[:i], 0o755 if i % 2 else 0o644)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def workload(host, label):
    """ROUNDS pushes of a 16 MiB image and pulls of its layer; the time of each, in ms."""
    pushes, pulls = [], []
    for i in range(ROUNDS):
        layer = os.urandom(SMALL)
        t = time.perf_counter()
        digest = push_image(host, "other/app", f"{label}{i}", layer)
        pushes.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        status, data = request(host, "GET", f"/v2/other/app/blobs/{digest}")
        assert status == 200 and len(data) == SMALL, status
        pulls.append((time.perf_counter() - t) * 1000)
    return statistics.median(pushes), statistics.median(pulls)


def scan_status(host, image):
    status, text = request(host, "GET", f"/berth/v1/scans?image={image}")
    return json.loads(text) if status == 200 else {"status": "queued"}


def main():
    layer = os.path.join(WORK, "big.tar.gz")
    t = time.perf_counter()
    big_layer(layer)
    print(f"made a 1 GiB image layer ({os.path.getsize(layer) >> 20} MiB gzip) in {time.perf_counter() - t:.0f} s", file=sys.stderr)

    quiet = workload(QUIET_HOST, "warm")  # warm-up, then the figure without scanning
    quiet = workload(QUIET_HOST, "q")

    before = rss_kib(SCAN_PID)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(SCAN_PID))
            time.sleep(0.05)

    workload(SCAN_HOST, "warm")
    push_image(SCAN_HOST, "big/image", "v1", layer)
    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    while scan_status(SCAN_HOST, "big/image:v1").get("status") in ("queued", "running"):
        time.sleep(0.1)
        if time.perf_counter() - started > 5:
            break
    busy = workload(SCAN_HOST, "s")
    while (scan := scan_status(SCAN_HOST, "big/image:v1")).get("status") in ("queued", "running"):
        time.sleep(0.2)
    took = time.perf_counter() - started
    done.set()
    sampler.join()
    assert scan["status"] == "done", scan
    print(f"\nThe scanner on a 1 GiB image (1,026 files, 2,000 dpkg packages), {os.cpu_count()} cores, medians of {ROUNDS}")
    print(f"| figure | value |")
    print(f"|---|---|")
    print(f"| scan of the 1 GiB image | {took:.1f} s ({scan['summary']['packages']} packages) |")
    print(f"| berth RSS before the scan | {before / 1024:.1f} MiB |")
    print(f"| berth peak RSS during the scan | {peak[0] / 1024:.1f} MiB (+{(peak[0] - before) / 1024:.1f} MiB) |")
    print(f"| push of a 16 MiB image, no scanning | {quiet[0]:.0f} ms |")
    print(f"| push of a 16 MiB image, during the scan | {busy[0]:.0f} ms ({busy[0] / quiet[0]:.2f}x) |")
    print(f"| pull of a 16 MiB layer, no scanning | {quiet[1]:.0f} ms |")
    print(f"| pull of a 16 MiB layer, during the scan | {busy[1]:.0f} ms ({busy[1] / quiet[1]:.2f}x) |")


main()
