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
from datetime import datetime

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
    if isinstance(path_or_bytes, tuple):
        body, digest = path_or_bytes
        size = len(body)
    elif isinstance(path_or_bytes, bytes):
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


def push_image(host, repo, tag, layer, mount_from=None):
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    cd, cs = push_blob(host, repo, config)
    if mount_from:
        ld, ls = mount_from
        status, text = request(host, "POST", f"/v2/{repo}/blobs/uploads/?mount={ld}&from=big/image0")
        assert status == 201, (status, text)
    else:
        ld, ls = push_blob(host, repo, layer)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": ls}],
    }).encode()
    status, text = request(host, "PUT", f"/v2/{repo}/manifests/{tag}", manifest,
                           {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert status == 201, (status, text)
    return ld, ls


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


def peak_kib(pid):
    """The process's peak RSS so far (VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def workload(host, label, more=None):
    """Pushes of a 16 MiB image and pulls of its layer (ROUNDS of them, or as long as `more()`
    says): the median time of each, in ms, and the number of rounds."""
    pushes, pulls = [], []
    i = 0
    while (i < ROUNDS) if more is None else more():
        i += 1
        layer = LAYERS.pop()
        t = time.perf_counter()
        digest, _ = push_image(host, "other/app", f"{label}{i}", layer)
        pushes.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        status, data = request(host, "GET", f"/v2/other/app/blobs/{digest}")
        assert status == 200 and len(data) == SMALL, status
        pulls.append((time.perf_counter() - t) * 1000)
    assert pushes, "no round ran"
    return statistics.median(pushes), statistics.median(pulls), len(pushes)


# Layers made before any clock starts: random, so each push stores new bytes.
LAYERS = []


def make_layers(n):
    for _ in range(n):
        data = os.urandom(SMALL)
        LAYERS.append((data, "sha256:" + hashlib.sha256(data).hexdigest()))


def scan_status(host, image):
    status, text = request(host, "GET", f"/berth/v1/scans?image={image}")
    return json.loads(text) if status == 200 else {"status": "queued"}


def main():
    layer = os.path.join(WORK, "big.tar.gz")
    t = time.perf_counter()
    big_layer(layer)
    print(f"made a 1 GiB image layer ({os.path.getsize(layer) >> 20} MiB gzip) in {time.perf_counter() - t:.0f} s", file=sys.stderr)

    make_layers(3 * ROUNDS + 200)
    quiet = workload(QUIET_HOST, "warm")  # warm-up, then the figure without scanning
    quiet_before = rss_kib(QUIET_PID)
    quiet = workload(QUIET_HOST, "q")
    quiet_peak = peak_kib(QUIET_PID)

    before = rss_kib(SCAN_PID)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(SCAN_PID))
            time.sleep(0.05)

    workload(SCAN_HOST, "warm")
    # The same 1 GiB image in four repositories: four scans, one after the other (one per node
    # at a time), so the pushes and pulls below have seconds of scanning to overlap.
    images = [f"big/image{i}:v1" for i in range(4)]
    pushed = push_image(SCAN_HOST, "big/image0", "v1", layer)
    for image in images[1:]:
        push_image(SCAN_HOST, image.split(":")[0], "v1", None, mount_from=pushed)
    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    while scan_status(SCAN_HOST, images[0]).get("status") == "queued":
        time.sleep(0.02)
    scanning = lambda: scan_status(SCAN_HOST, images[-1]).get("status") in ("queued", "running")
    # Rounds only while scans run: each checks first that they still do.
    busy = workload(SCAN_HOST, "s", scanning)
    while scanning():
        time.sleep(0.1)
    def seconds(image):
        scan = scan_status(SCAN_HOST, image)
        return (datetime.fromisoformat(scan["scannedTime"]) - datetime.fromisoformat(scan["queuedTime"])).total_seconds()
    took = statistics.median(seconds(image) for image in images)
    done.set()
    sampler.join()
    scan = scan_status(SCAN_HOST, images[-1])
    assert scan["status"] == "done", scan
    print(f"\nThe scanner on a 1 GiB image (1,026 files, 2,000 dpkg packages), {os.cpu_count()} cores; medians of {quiet[2]} rounds without scanning, {busy[2]} during the scan")
    print(f"| figure | value |")
    print(f"|---|---|")
    print(f"| scan of the 1 GiB image, queued to reported (median of 4, one after another) | {took:.1f} s ({scan['summary']['packages']} packages) |")
    print(f"| berth RSS before the scan | {before / 1024:.1f} MiB |")
    print(f"| berth peak RSS during the scans and the pushes and pulls | {peak[0] / 1024:.1f} MiB (+{(peak[0] - before) / 1024:.1f} MiB) |")
    print(f"| the quiet berth: RSS before, and peak (VmHWM) after, the same pushes and pulls | {quiet_before / 1024:.1f} MiB, {quiet_peak / 1024:.1f} MiB |")
    print(f"| push of a 16 MiB image, no scanning | {quiet[0]:.0f} ms |")
    print(f"| push of a 16 MiB image, during the scan | {busy[0]:.0f} ms ({busy[0] / quiet[0]:.2f}x) |")
    print(f"| pull of a 16 MiB layer, no scanning | {quiet[1]:.0f} ms |")
    print(f"| pull of a 16 MiB layer, during the scan | {busy[1]:.0f} ms ({busy[1] / quiet[1]:.2f}x) |")


if __name__ == "__main__":
    main()
