"""The cost of build tasks: a build run by Berth beside the same build and push by hand, and
pushes and pulls of other images while builds run, beside a server that runs none. Driven by
bench/tasks.sh; prints a table.
usage: tasks.py WORKDIR BUILDING_HOST BUILDING_PID QUIET_HOST QUIET_PID"""
import base64
import gzip
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from datetime import datetime

import scan
from scan import make_layers, push_blob, request, rss_kib, workload

WORK, BUILD_HOST, BUILD_PID, QUIET_HOST, QUIET_PID = sys.argv[1:6]
RUNS = int(os.environ.get("BENCH_BUILDS", "5"))
# The build whose overhead is measured: a RUN step and a COPY on a busybox base.
SMALL_BUILD = "FROM {r}/base/busybox:1\nRUN echo built > /built.txt\nCOPY hello.txt /hello.txt\n"
# The builds that run while other images are pushed and pulled: CPU, disk and a 128 MiB layer.
HEAVY_BUILD = "FROM {r}/base/busybox:1\nRUN dd if=/dev/urandom of=/data bs=1M count=128 && seq 1 3000000 > /dev/null\n"


def tar_bytes(files, compress):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data, kind in files:
            info = tarfile.TarInfo(name)
            if kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
                continue
            info.size, info.mode = len(data), 0o755 if kind == "exec" else 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue()) if compress else raw.getvalue()


def push_base(host):
    """A busybox image as base/busybox:1."""
    with open("/bin/busybox", "rb") as f:
        busybox = f.read()
    files = [("bin/busybox", busybox, "exec")] + [(f"bin/{a}", "busybox", "link") for a in ("sh", "echo", "dd", "seq")]
    layer = tar_bytes(files, False)
    ld, ls = push_blob(host, "base/busybox", layer)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"]},
                         "rootfs": {"type": "layers", "diff_ids": [ld]}}).encode()
    cd, cs = push_blob(host, "base/busybox", config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ls}],
    }).encode()
    status, text = request(host, "PUT", "/v2/base/busybox/manifests/1", manifest,
                           {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert status == 201, (status, text)


def berth_build(host, dockerfile, tag):
    """Queues a build of `dockerfile` through the API; the run id."""
    context = tar_bytes([("Dockerfile", dockerfile.format(r=host).encode(), "file"), ("hello.txt", b"hi", "file")], True)
    status, text = request(host, "POST", "/berth/v1/runs/sources", context, {"Content-Type": "application/gzip"})
    assert status == 201, (status, text)
    body = json.dumps({"type": "DockerBuildRequest", "imageNames": [tag],
                       "sourceLocation": json.loads(text)["sourceLocation"]}).encode()
    status, text = request(host, "POST", "/berth/v1/runs", body, {"Content-Type": "application/json"})
    assert status == 202, (status, text)
    return json.loads(text)["runId"]


def run_of(host, run_id):
    status, text = request(host, "GET", f"/berth/v1/runs/{run_id}")
    assert status == 200, (status, text)
    return json.loads(text)


def wait(host, run_id):
    while True:
        run = run_of(host, run_id)
        if run["status"] not in ("Queued", "Running"):
            assert run["status"] == "Succeeded", run
            return run
        time.sleep(0.05)


def by_hand(host, n):
    """The same build and push, run by hand as the build user: buildah bud and buildah push with
    storage of its own, as a run has. Seconds."""
    d = os.path.join(WORK, f"hand{n}")
    ctx = os.path.join(d, "ctx")
    os.makedirs(ctx)
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write(SMALL_BUILD.format(r=host))
    with open(os.path.join(ctx, "hello.txt"), "w") as f:
        f.write("hi")
    with open(os.path.join(d, "registries.conf"), "w") as f:
        f.write(f'unqualified-search-registries = []\n[[registry]]\nlocation = "{host}"\ninsecure = true\n')
    creds = base64.b64encode(f"admin:{os.environ['BENCH_PASSWORD']}".encode()).decode()
    with open(os.path.join(d, "auth.json"), "w") as f:
        json.dump({"auths": {host: {"auth": creds}}}, f)
    subprocess.run(["chown", "-R", "berth-build", d], check=True)
    env = {"PATH": "/usr/bin:/bin", "HOME": d, "XDG_RUNTIME_DIR": d, "BUILDAH_ISOLATION": "chroot",
           "REGISTRY_AUTH_FILE": os.path.join(d, "auth.json"),
           "CONTAINERS_REGISTRIES_CONF": os.path.join(d, "registries.conf")}
    buildah = ["setpriv", "--reuid", "berth-build", "--regid", "berth-build", "--init-groups", "buildah",
               "--root", os.path.join(d, "storage"), "--runroot", os.path.join(d, "runroot"), "--storage-driver", "vfs"]
    image = f"{host}/hand/app:{n}"
    t = time.perf_counter()
    subprocess.run(buildah + ["bud", "--isolation", "chroot", "--layers=false", "-t", image, ctx],
                   env=env, cwd=d, check=True, capture_output=True)
    subprocess.run(buildah + ["push", image, f"docker://{image}"], env=env, cwd=d, check=True, capture_output=True)
    took = time.perf_counter() - t
    subprocess.run(["rm", "-rf", d], check=True)
    return took


def seconds(run):
    return (datetime.fromisoformat(run["finishTime"]) - datetime.fromisoformat(run["createTime"])).total_seconds()


def main():
    push_base(BUILD_HOST)
    # Warm both (the first pull of the base fills caches), then alternate.
    by_hand(BUILD_HOST, 0)
    wait(BUILD_HOST, berth_build(BUILD_HOST, SMALL_BUILD, "warm/app:0"))
    hand, queued, wall = [], [], []
    for n in range(1, RUNS + 1):
        hand.append(by_hand(BUILD_HOST, n))
        t = time.perf_counter()
        run = wait(BUILD_HOST, berth_build(BUILD_HOST, SMALL_BUILD, f"berth/app:{n}"))
        wall.append(time.perf_counter() - t)
        queued.append(seconds(run))

    make_layers(3 * scan.ROUNDS + 200)
    quiet_before = rss_kib(QUIET_PID)
    quiet = workload(QUIET_HOST, "q")
    workload(BUILD_HOST, "warm")
    before = rss_kib(BUILD_PID)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(BUILD_PID))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    heavy = [berth_build(BUILD_HOST, HEAVY_BUILD, f"heavy/app:{i}") for i in range(4)]
    while run_of(BUILD_HOST, heavy[0])["status"] == "Queued":
        time.sleep(0.02)
    # Rounds while the builds run, as long as there are fresh layers to push.
    building = lambda: scan.LAYERS and any(run_of(BUILD_HOST, h)["status"] in ("Queued", "Running") for h in heavy)
    busy = workload(BUILD_HOST, "b", building)
    heavy_runs = [wait(BUILD_HOST, h) for h in heavy]
    done.set()
    sampler.join()

    h, w = statistics.median(hand), statistics.median(wall)
    print(f"\nBuild tasks, {os.cpu_count()} cores; medians of {RUNS} builds each way, {quiet[2]} rounds on the quiet server, {busy[2]} during the builds")
    print("| figure | value |")
    print("|---|---|")
    print(f"| a small build and push by hand (buildah bud + push as berth-build) | {h:.2f} s |")
    print(f"| the same as a Berth run: request to Succeeded (upload, queue, claim, build, push, record) | {w:.2f} s ({w / h:.2f}x) |")
    print(f"| the same, queued to finished as the run records it | {statistics.median(queued):.2f} s |")
    print(f"| four heavy builds (128 MiB of random data, a CPU loop), two at a time: each, queued to finished | {statistics.median(seconds(r) for r in heavy_runs):.1f} s |")
    print(f"| berth RSS before the heavy builds, and its peak during them | {before / 1024:.1f} MiB, {peak[0] / 1024:.1f} MiB (+{(peak[0] - before) / 1024:.1f} MiB) |")
    print(f"| the quiet berth: RSS before, and after the same pushes and pulls | {quiet_before / 1024:.1f} MiB, {rss_kib(QUIET_PID) / 1024:.1f} MiB |")
    print(f"| push of a 16 MiB image: quiet server, during the builds | {quiet[0]:.0f} ms, {busy[0]:.0f} ms ({busy[0] / quiet[0]:.2f}x) |")
    print(f"| pull of a 16 MiB layer: quiet server, during the builds | {quiet[1]:.0f} ms, {busy[1]:.0f} ms ({busy[1] / quiet[1]:.2f}x) |")


if __name__ == "__main__":
    main()
