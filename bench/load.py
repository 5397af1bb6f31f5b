"""Helper for bench/run.sh (standard library only): manifest PUTs and timed listings over one
keep-alive HTTP/1.1 connection, and a sendfile(2) HTTP server as the loopback ceiling. Blob pushes and pulls
are done with curl by run.sh itself.

usage: load.py COMMAND ARGS...   (prints one number; exits non-zero on any unexpected status)
  manifests HOST:PORT REPO COUNT       push a config and a layer blob, then PUT one manifest
                                       under COUNT distinct tags; prints PUTs per second
  repos HOST:PORT PREFIX COUNT         COUNT repositories with one tagged manifest each
  get HOST:PORT PATH KEY COUNT [RUNS]  median ms of GET PATH (after 3 warm-ups); checks that
                                       the JSON list KEY has COUNT entries and no Link header
  serve PORT DIR                       HTTP server on 127.0.0.1:PORT answering GET /NAME with DIR/NAME
                                       via sendfile(2): the loopback pull ceiling for curl here
  gcwait HOST:PORT REPO COUNT          pushes COUNT blobs no manifest references, then runs one
                                       garbage-collection pass (Berth only: Distribution has no
                                       online GC) while another client pushes small blobs; prints
                                       "gc_seconds blobs_deleted longest_push_ms median_push_ms"
  trickle HOST:PORT REPO COUNT         median ms of a 1 MiB blob pull and of a small blob push by
                                       another client, before and while COUNT uploads (credentials
                                       in BENCH_TRICKLE_AUTH) trickle one byte a second; prints
                                       "pull_before pull_during push_before push_during"
"""
import hashlib
import http.client
import json
import os
import socket
import socketserver
import statistics
import sys
import threading
import time
import urllib.parse

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


# Basic credentials for every request (Berth's admin user; Distribution, with no auth, ignores them).
AUTH = os.environ.get("BENCH_AUTH")


class Conn(http.client.HTTPConnection):
    def putrequest(self, *args, **kwargs):
        super().putrequest(*args, **kwargs)
        if AUTH:
            self.putheader("Authorization", AUTH)


def conn(host):
    h, p = host.split(":")
    return Conn(h, int(p), timeout=300)


def check(res, *ok, what=""):
    body = res.read()
    if res.status not in ok:
        sys.exit(f"{what}: unexpected {res.status} {res.reason}: {body[:500]!r}")
    return body


def blob(c, repo, data):
    """POST then PUT ?digest= (the form both registries accept); returns the digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    c.request("POST", f"/v2/{repo}/blobs/uploads/")
    res = c.getresponse()
    check(res, 202, what=f"POST /v2/{repo}/blobs/uploads/")
    u = urllib.parse.urlsplit(res.getheader("Location"))  # Distribution: absolute URL, Berth: path
    loc = u.path + (f"?{u.query}&" if u.query else "?") + f"digest={digest}"
    c.request("PUT", loc, body=data, headers={"Content-Type": "application/octet-stream"})
    check(c.getresponse(), 201, what=f"PUT {loc}")
    return digest


def manifest(c, repo):
    """Pushes a config blob and a layer blob to `repo`; returns an image manifest naming them."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = repo.encode() * 64
    cd, ld = blob(c, repo, config), blob(c, repo, layer)
    return json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": len(layer)}],
    }).encode()


def put_manifest(c, repo, ref, body):
    c.request("PUT", f"/v2/{repo}/manifests/{ref}", body=body, headers={"Content-Type": MANIFEST})
    check(c.getresponse(), 201, what=f"PUT /v2/{repo}/manifests/{ref}")


def manifests(host, repo, count):
    c, count = conn(host), int(count)
    body = manifest(c, repo)
    start = time.perf_counter()
    for i in range(count):
        put_manifest(c, repo, f"t{i:05d}", body)
    print(f"{count / (time.perf_counter() - start):.0f}")


def repos(host, prefix, count):
    c = conn(host)
    for i in range(int(count)):
        name = f"{prefix}{i:04d}"
        put_manifest(c, name, "latest", manifest(c, name))


def timed_get(host, path, key, count, runs="25"):
    c, times = conn(host), []
    for i in range(3 + int(runs)):
        start = time.perf_counter()
        c.request("GET", path)
        res = c.getresponse()
        body = check(res, 200, what=f"GET {path}")
        if i >= 3:
            times.append((time.perf_counter() - start) * 1000)
    got = len(json.loads(body)[key] or [])
    if got != int(count) or res.getheader("Link"):
        sys.exit(f"GET {path}: {got} {key} (wanted {count}), Link: {res.getheader('Link')}")
    print(f"{statistics.median(times):.2f}")


def serve(port, root):
    """Answers GET /NAME with the file ROOT/NAME via sendfile(2): the fastest a server here can send."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            req = b""
            while b"\r\n\r\n" not in req:
                if not (more := self.request.recv(65536)):
                    return
                req += more
            path = os.path.join(root, os.path.basename(req.split(b" ")[1].decode()))
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
                self.request.sendall(head.encode())
                self.request.sendfile(f)

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    socketserver.ThreadingTCPServer.request_queue_size = 64
    with socketserver.ThreadingTCPServer(("127.0.0.1", int(port)), Handler) as srv:
        srv.serve_forever()


def gcwait(host, repo, count):
    """How long a push waits while garbage collection deletes COUNT blobs."""
    c = conn(host)
    for i in range(int(count)):
        blob(c, repo, f"doomed {i} {time.time()}".encode())
    waits, stop = [], threading.Event()

    def probe():
        pc, i = conn(host), 0
        while not stop.is_set():
            start = time.perf_counter()
            blob(pc, f"{repo}-probe", f"probe {i} {time.time()}".encode())
            waits.append((time.perf_counter() - start) * 1000)
            i += 1

    t = threading.Thread(target=probe)
    t.start()
    time.sleep(0.5)
    start = time.perf_counter()
    c.request("POST", "/berth/v1/gc", body=json.dumps({"grace": "0s"}), headers={"Content-Type": "application/json"})
    report = json.loads(check(c.getresponse(), 200, what="POST /berth/v1/gc"))
    took = time.perf_counter() - start
    time.sleep(0.5)
    stop.set()
    t.join()
    print(f"{took:.1f} {report['blobsDeleted']} {max(waits):.0f} {statistics.median(waits):.1f}")


def trickle(host, repo, count):
    """Another client's pull and push latency, before and while COUNT uploads trickle."""
    c = conn(host)
    data = os.urandom(1 << 20)
    digest = blob(c, repo, data)

    def victim():
        pulls, pushes = [], []
        for i in range(15):
            start = time.perf_counter()
            c.request("GET", f"/v2/{repo}/blobs/{digest}")
            if len(check(c.getresponse(), 200, what="pull")) != len(data):
                sys.exit("pull: short body")
            pulls.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            blob(c, repo, f"victim {i} {time.time()}".encode())
            pushes.append((time.perf_counter() - start) * 1000)
        return statistics.median(pulls), statistics.median(pushes)

    before = victim()
    h, p = host.split(":")
    auth = os.environ.get("BENCH_TRICKLE_AUTH", AUTH or "")
    stop, socks = threading.Event(), []
    for i in range(int(count)):
        s = socket.create_connection((h, int(p)))
        d = "sha256:" + hashlib.sha256(str(i).encode()).hexdigest()
        s.sendall(f"POST /v2/{repo}/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: {host}\r\n"
                  f"Authorization: {auth}\r\nContent-Length: 1000000\r\n\r\n".encode())
        socks.append(s)

    def drip():
        while not stop.wait(1):
            for s in socks:
                try:
                    s.send(b"x")
                except OSError:
                    pass

    t = threading.Thread(target=drip)
    t.start()
    time.sleep(3)
    during = victim()
    stop.set()
    t.join()
    for s in socks:
        s.close()
    print(f"{before[0]:.2f} {during[0]:.2f} {before[1]:.2f} {during[1]:.2f}")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    commands = {"manifests": manifests, "repos": repos, "get": timed_get, "serve": serve, "trickle": trickle, "gcwait": gcwait}
    commands[command](*args)
