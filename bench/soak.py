"""Soak test for a running Berth (standard library only), started by bench/soak.

usage: soak.py HOST:PORT SECONDS CLIENTS PID DATA_DIR

CLIENTS threads run a mix for SECONDS: push an image (three layers: a shared base, a layer of
its own, a small config), pull an image whole with every blob re-hashed, delete an image, and
now and then a garbage-collection pass. Every 10 s the server's RSS is sampled from
/proc/PID/status. At the end, a full integrity check:
- every manifest pulls, and its config and layers are present and hash to their digests;
- every blob file under DATA_DIR/storage/blobs hashes to its name;
- usage (/berth/v1/usage) equals the blobs and manifests stored, after a final GC pass.
Prints a table. Exits non-zero on any integrity failure.
"""
import hashlib
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
import urllib.parse

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
AUTH = os.environ["BENCH_AUTH"]
HOST, SECONDS, CLIENTS, PID, DATA = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
BASE = bytes(random.Random(1).randbytes(4 << 20))  # one 4 MiB base layer that every image shares

lock = threading.Lock()
stats = {}  # op -> {"ok": n, "err": n, "ms": [...]}
pushed = []  # (repo, digest) of acknowledged images still there (as far as the clients know)


def conn():
    h, p = HOST.split(":")
    return http.client.HTTPConnection(h, int(p), timeout=120)


def request(c, method, path, body=None, headers=None):
    headers = dict(headers or {}, Authorization=AUTH)
    c.request(method, path, body=body, headers=headers)
    res = c.getresponse()
    return res.status, res.getheader("Location"), res.read()


def record(op, ok, started):
    with lock:
        s = stats.setdefault(op, {"ok": 0, "err": 0, "ms": []})
        s["ok" if ok else "err"] += 1
        s["ms"].append((time.monotonic() - started) * 1000)


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(c, repo, data):
    status, loc, _ = request(c, "POST", f"/v2/{repo}/blobs/uploads/")
    if status != 202:
        return False
    u = urllib.parse.urlsplit(loc)
    path = u.path + (f"?{u.query}&" if u.query else "?") + f"digest={sha(data)}"
    status, _, _ = request(c, "PUT", path, body=data, headers={"Content-Type": "application/octet-stream"})
    return status == 201


def push(c, rng, n):
    repo = f"soak/r{n % 50}"
    own = rng.randbytes(rng.randrange(16 << 10, 2 << 20))
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": n}).encode()
    for blob in (BASE, own, config):
        if not push_blob(c, repo, blob):
            return False
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(b), "size": len(b)} for b in (BASE, own)],
    }).encode()
    status, _, _ = request(c, "PUT", f"/v2/{repo}/manifests/t{n}", body=manifest, headers={"Content-Type": MANIFEST})
    if status == 201:
        with lock:
            pushed.append((repo, sha(manifest)))
    return status == 201


def pull(c, repo, digest):
    """Pulls an image whole; False if anything is missing or wrong (unless it was deleted)."""
    status, _, body = request(c, "GET", f"/v2/{repo}/manifests/{digest}", headers={"Accept": MANIFEST})
    if status == 404:
        return None  # deleted by another client meanwhile
    if status != 200 or sha(body) != digest:
        return False
    m = json.loads(body)
    for d in [m["config"]] + m["layers"]:
        status, _, blob = request(c, "GET", f"/v2/{repo}/blobs/{d['digest']}")
        if status != 200 or sha(blob) != d["digest"]:
            return False
    return True


def client(k, deadline):
    rng = random.Random(k)
    c = conn()
    n = k * 1_000_000
    while time.monotonic() < deadline:
        op = rng.choices(["push", "pull", "delete", "gc"], weights=[4, 10, 1, 0.2])[0]
        started = time.monotonic()
        try:
            if op == "push":
                n += 1
                record(op, push(c, rng, n), started)
            elif op in ("pull", "delete"):
                with lock:
                    target = rng.choice(pushed) if pushed else None
                if target is None:
                    continue
                if op == "pull":
                    ok = pull(c, *target)
                    if ok is not None:
                        record(op, ok, started)
                else:
                    status, _, _ = request(c, "DELETE", f"/v2/{target[0]}/manifests/{target[1]}")
                    with lock:
                        if target in pushed:
                            pushed.remove(target)
                    record(op, status in (202, 404), started)
            else:
                status, _, _ = request(c, "POST", "/berth/v1/gc", body=b"{}", headers={"Content-Type": "application/json"})
                record(op, status == 200, started)
        except (OSError, http.client.HTTPException):
            record(op, False, started)
            c = conn()


def rss_mib():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    deadline = time.monotonic() + SECONDS
    threads = [threading.Thread(target=client, args=(k, deadline)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    memory = []
    start = time.monotonic()
    next_sample = start
    while any(t.is_alive() for t in threads):
        if time.monotonic() >= next_sample:
            memory.append((time.monotonic() - start, rss_mib()))
            next_sample += 10
        time.sleep(0.2)
    memory.append((time.monotonic() - start, rss_mib()))
    for t in threads:
        t.join()

    # Integrity: every image every client still knows of, by tag list, pulls whole.
    c = conn()
    failures = []
    status, _, body = request(c, "POST", "/berth/v1/gc", body=b"{}", headers={"Content-Type": "application/json"})
    if status != 200:
        failures.append(f"final gc: {status} {body[:200]!r}")
    _, _, body = request(c, "GET", "/v2/_catalog?n=100000")
    manifests = {}
    for repo in json.loads(body)["repositories"]:
        _, _, body = request(c, "GET", f"/v2/{repo}/tags/list?n=100000")
        for tag in json.loads(body).get("tags") or []:
            status, _, m = request(c, "GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST})
            if status != 200:
                failures.append(f"{repo}:{tag}: manifest {status}")
                continue
            manifests[sha(m)] = len(m)
            if pull(c, repo, sha(m)) is not True:
                failures.append(f"{repo}:{tag}: a blob is missing or wrong")
    stored = 0
    files = 0
    root = os.path.join(DATA, "storage", "blobs", "sha256")
    for prefix in os.listdir(root) if os.path.isdir(root) else []:
        for name in os.listdir(os.path.join(root, prefix)):
            data = open(os.path.join(root, prefix, name), "rb").read()
            files += 1
            stored += len(data)
            if hashlib.sha256(data).hexdigest() != name:
                failures.append(f"blob file {name} does not hash to its name")
    _, _, body = request(c, "GET", "/berth/v1/usage")
    usage = next(u["currentValue"] for u in json.loads(body)["value"] if u["name"] == "Size")
    expected = stored + sum(manifests.values())
    if usage != expected:
        failures.append(f"usage {usage} != {expected} (blob files {stored} + manifests {sum(manifests.values())})")

    total_ok = sum(s["ok"] for s in stats.values())
    print(f"\nBerth soak: {SECONDS:.0f} s, {CLIENTS} clients, {total_ok / SECONDS:.1f} successful operations/s")
    print(f"{'operation':<10}{'ok':>8}{'errors':>8}{'p50 ms':>10}{'p99 ms':>10}")
    for op in ("push", "pull", "delete", "gc"):
        s = stats.get(op, {"ok": 0, "err": 0, "ms": [0]})
        ms = sorted(s["ms"]) or [0]
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        print(f"{op:<10}{s['ok']:>8}{s['err']:>8}{statistics.median(ms):>10.1f}{p99:>10.1f}")
    print("RSS over time (MiB): " + ", ".join(f"{t:.0f}s {m:.1f}" for t, m in memory))
    print(f"integrity: {len(manifests)} manifests pulled whole, {files} blob files re-hashed ({stored} bytes), "
          f"usage {usage} bytes: {'OK' if not failures else 'FAILED'}")
    for f in failures[:20]:
        print("  " + f)
    sys.exit(1 if failures else 0)


main()
