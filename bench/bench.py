#!/usr/bin/env python3
"""Sharelock and nginx side by side, in one run, on the same files.

Each pair of measurements runs alternately (Sharelock, nginx, Sharelock, ...) so that the noise
of a shared machine falls on both; the figures that matter are the ratios of the medians.
Both servers run on loopback with the same number of workers as this machine has cores, both
write an access log, and nginx serves the very files in Sharelock's store (through the
configuration `sharelock nginx-config` prints, its secure_link location for nginx's side).
"""

import asyncio
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# SHARELOCK_BIN: another release binary of the same commit (bench/run builds this tree's).
BIN = Path(os.environ.get("SHARELOCK_BIN", ROOT / "target" / "release" / "sharelock"))
QUICK = "--quick" in sys.argv
# `--only NAME` runs one benchmark alone (to check one change quickly): its rows and runs are
# printed, BENCHMARKS.md is left alone.
ONLY_NAMES = ("download", "gets", "rss", "upload", "ceiling", "add", "idle", "scale", "history", "desktop")
ONLY = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
if ONLY is not None and ONLY not in ONLY_NAMES:
    raise SystemExit(f"--only takes one of: {', '.join(ONLY_NAMES)}")
RUNS = 3 if QUICK else 5
WRK_SECONDS = 4 if QUICK else 10
HISTORY_RUNS = 4 if QUICK else 9
MIB = 1024 * 1024
GIB = 1024 * MIB
BIG = 256 * MIB if QUICK else GIB
SCALE_FILES = 10_000 if QUICK else 100_000
SMALL_FILES = 10_000  # one `sharelock add` call; the figure, quick or not
IDLE_CONNECTIONS = 10_000
DESKTOP_FILES = 10_000 if QUICK else 100_000
# Benchmarks that could not be measured: the run says so and exits non-zero after its report.
FAILED = []
SHM = Path("/dev/shm")


def log(msg):
    print(f"== {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def sl(data, *args):
    out = subprocess.run([BIN, "--data-dir", data, "--json", *map(str, args)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout) if out.stdout.strip() else None


def write_random(path, size):
    with open(path, "wb") as f:
        block = os.urandom(MIB)
        for i in range(size // MIB):
            # Vary each MiB cheaply so no two blocks are the same.
            f.write(i.to_bytes(8, "little") + block[8:])
        f.write(os.urandom(size % MIB))


class Sharelock:
    def __init__(self, data, work):
        self.port = free_port()
        self.log = open(work / f"sharelock-{self.port}.log", "w")
        self.proc = subprocess.Popen([BIN, "--data-dir", data, "serve", "--bind", f"127.0.0.1:{self.port}"],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening on"), line
        self.pid = self.proc.pid

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)

    def rss_mib(self, field):
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) / 1024

    def reset_peak(self):
        # Writing 5 to clear_refs resets the peak resident set size (VmHWM).
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")


class Nginx:
    def __init__(self, data, work, upstream_port):
        self.port = free_port()
        conf = work / f"nginx-{self.port}.conf"
        out = subprocess.run([BIN, "--data-dir", data, "nginx-config", "--listen", f"127.0.0.1:{self.port}",
                              "--upstream", f"127.0.0.1:{upstream_port}"], check=True, capture_output=True, text=True)
        conf.write_text(out.stdout)
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-g", "daemon off;"])
        wait_port(self.port)

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.wait(timeout=30)


def links(data, file_id, sharelock, nginx):
    """A Sharelock link (served by Sharelock) and an nginx-checked link (served by nginx)."""
    ours = sl(data, "link", file_id, "--expires", "never", "--base-url", f"http://127.0.0.1:{sharelock.port}")["url"]
    theirs = sl(data, "link", file_id, "--nginx", "--expires", "30d", "--base-url", f"http://127.0.0.1:{nginx.port}")["url"]
    return ours, theirs


def curl_mib_s(url):
    out = subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{speed_download}", url],
                         check=True, capture_output=True, text=True)
    return float(out.stdout) / MIB


def wrk_rps(url):
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{WRK_SECONDS}s", url], check=True, capture_output=True, text=True).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


LATENCY_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk_latency(url, connections, seconds=WRK_SECONDS):
    """wrk --latency: (req/s, p99 in ms, the output). Fails on any non-2xx answer or socket error."""
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         check=True, capture_output=True, text=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), float(p99.group(1)) * LATENCY_UNITS[p99.group(2)], out


def cpu_seconds(pid):
    """The CPU time (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk_cost(url, pid):
    """wrk against `url` served by process `pid`: (req/s, the server's CPU microseconds per
    request). The CPU per request is the server's own cost: it barely moves when wrk or anything
    else on the machine takes a larger share of the two cores, which throughput does not."""
    before = cpu_seconds(pid)
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{WRK_SECONDS}s", url], check=True, capture_output=True, text=True).stdout
    used = cpu_seconds(pid) - before
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), used * 1e6 / requests


def alternate(a, b, runs=RUNS):
    xs, ys = [], []
    for _ in range(runs):
        xs.append(a())
        ys.append(b())
    return xs, ys


def spread(values):
    return f"{min(values):.0f}–{max(values):.0f}"


results = []  # rows: name, ours, theirs, unit, ratio, target, met, detail


def run_figure(v):
    """A run as listed: one decimal, three below 10 (milliseconds per file would all read 0.1)."""
    return round(v, 3) if abs(v) < 10 else round(v, 1)


def row(name, ours, theirs, unit, ratio, target, met, runs_ours, runs_theirs, fmt="{:.0f}"):
    """A table row; `met` None for a row recorded without a target of its own."""
    results.append({
        "name": name, "ours": fmt.format(ours), "theirs": fmt.format(theirs) if theirs is not None else "–", "unit": unit,
        "ratio": f"{ratio:.2f}" if ratio is not None else "–", "target": target,
        "met": "–" if met is None else "yes" if met else "**no**",
        "runs_ours": [run_figure(v) for v in runs_ours], "runs_theirs": [run_figure(v) for v in runs_theirs],
    })
    log(f"{name}: {results[-1]}")


def main():
    if not BIN.exists():
        raise SystemExit("build first: cargo build --release -p sharelock (bench/run does)")
    base = Path(os.environ.get("BENCH_DIR", ROOT / "target"))
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=base))
    data = work / "data"
    try:
        run_all(work, data)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if FAILED:
        raise SystemExit("not measured: " + "; ".join(FAILED))


def wanted(name):
    return ONLY is None or ONLY == name


def run_all(work, data):
    log(f"work dir {work}")
    big, mid, small = work / "big.bin", work / "mid.bin", work / "small.bin"
    if wanted("download") or wanted("upload") or wanted("add"):
        write_random(big, BIG)
    if wanted("rss"):
        write_random(mid, 256 * MIB)
    small.write_bytes(os.urandom(4096))
    present = [(n, p) for n, p in [("big", big), ("mid", mid), ("small", small)] if p.exists()]
    ids = {name: sl(data, "add", path)[0]["id"] for name, path in present}
    if any(wanted(n) for n in ("download", "gets", "rss", "upload")):
        server = Sharelock(data, work)
        nginx = Nginx(data, work, server.port)
        try:
            if wanted("download"):
                big_download(data, ids, server, nginx)
            if wanted("gets"):
                small_gets(data, ids, server, nginx)
            if wanted("rss"):
                peak_rss(data, ids, server, nginx)
            if wanted("upload"):
                upload(data, big, server)
        finally:
            nginx.stop()
            server.stop()
    if wanted("ceiling"):
        ceiling()
    if wanted("add"):
        publish(work, data, big)
        many_small(work)
    if wanted("idle"):
        idle_connections(work, small)
    if wanted("scale"):
        scale(work)
    if wanted("history"):
        history_cost(work)
    if wanted("desktop"):
        desktop(work)
    if ONLY is None:
        report()
    else:
        print_rows()


def big_download(data, ids, server, nginx):
    """1. Big download."""
    ours, theirs = links(data, ids["big"], server, nginx)
    xs, ys = alternate(lambda: curl_mib_s(ours), lambda: curl_mib_s(theirs))
    r = statistics.median(xs) / statistics.median(ys)
    row(f"Big download ({BIG // MIB} MiB), MiB/s", statistics.median(xs), statistics.median(ys), "MiB/s", r, "≥ 1.0", r >= 1.0, xs, ys)


def small_gets(data, ids, server, nginx):
    """2. Small tokenised GETs: throughput at 32 connections, p99 latency at 32 and at 256."""
    ours, theirs = links(data, ids["small"], server, nginx)
    for connections in (32, 256):
        xs, ys = alternate(lambda: wrk_latency(ours, connections), lambda: wrk_latency(theirs, connections))
        rps_ours, rps_theirs = [x[0] for x in xs], [y[0] for y in ys]
        p99_ours, p99_theirs = [x[1] for x in xs], [y[1] for y in ys]
        if connections == 32:
            r = statistics.median(rps_ours) / statistics.median(rps_theirs)
            row("Small GETs (4 KiB, wrk 32 conns), req/s", statistics.median(rps_ours), statistics.median(rps_theirs), "req/s", r,
                "≥ 0.8", r >= 0.8, rps_ours, rps_theirs)
        else:
            r = statistics.median(rps_ours) / statistics.median(rps_theirs)
            row("Small GETs (4 KiB, wrk 256 conns), req/s", statistics.median(rps_ours), statistics.median(rps_theirs), "req/s", r,
                "–", None, rps_ours, rps_theirs)
        # Lower is better: the ratio is nginx's p99 over ours (≥ 1.0: ours is no slower).
        r = statistics.median(p99_theirs) / statistics.median(p99_ours)
        row(f"Small GETs, p99 latency at {connections} conns, ms (ratio: nginx / Sharelock)", statistics.median(p99_ours),
            statistics.median(p99_theirs), "ms", r, "–", None, p99_ours, p99_theirs, "{:.2f}")


def peak_rss(data, ids, server, nginx):
    """3. Memory: 32 clients download 256 MiB at once."""
    ours, _ = links(data, ids["mid"], server, nginx)
    peaks = []
    for _ in range(2 if QUICK else 3):
        server.reset_peak()
        clients = [subprocess.Popen(["curl", "-sS", "--fail", "-o", "/dev/null", ours]) for _ in range(32)]
        assert all(c.wait() == 0 for c in clients)
        peaks.append(server.rss_mib("VmHWM"))
    row("Peak RSS, 32 clients × 256 MiB, MiB", max(peaks), None, "MiB", None, "≤ 64 MiB", max(peaks) <= 64, peaks, [], "{:.1f}")


def sync():
    subprocess.run(["sync"], check=True)


def timed_dd(source, target, fsync):
    """dd of `source` into `target` (1 MiB blocks, `conv=fsync` if asked), in MiB/s; removes `target`."""
    started = time.perf_counter()
    subprocess.run(["dd", f"if={source}", f"of={target}", "bs=1M", *(["conv=fsync"] if fsync else [])], check=True, capture_output=True)
    speed = source.stat().st_size / MIB / (time.perf_counter() - started)
    target.unlink()
    return speed


def put_into_slot(data, server, source, slot, name):
    """`curl -T` of `source` into `slot`, in MiB/s, with the server's RSS growth (MiB); removes the upload."""
    put_base, query = slot["url"].split("?")
    server.reset_peak()
    before = server.rss_mib("VmRSS")
    out = subprocess.run(["curl", "-sS", "--fail", "-T", source, "-o", "/dev/null", "-w", "%{speed_upload}",
                          f"{put_base}/{name}?{query}"], check=True, capture_output=True, text=True)
    growth = server.rss_mib("VmHWM") - before
    for f in sl(data, "ls"):
        if f.get("slot_id") == slot["id"]:
            sl(data, "rm", f["id"])
    return float(out.stdout) / MIB, growth


def upload(data, big, server):
    """4. Upload: a big PUT into a slot vs dd conv=fsync of the same file into the store's directory,
    `sync` before each, alternately."""
    slot = sl(data, "slot", "--max-size", "4G", "--max-files", "100")
    rss_during, ups, dds = [], [], []
    for i in range(RUNS):
        sync()
        speed, growth = put_into_slot(data, server, big, slot, f"up{i}.bin")
        ups.append(speed)
        rss_during.append(growth)
        sync()
        dds.append(timed_dd(big, data / "store" / "dd.out", fsync=True))
    r = statistics.median(ups) / statistics.median(dds)
    row(f"Upload ({BIG // MIB} MiB PUT) vs dd conv=fsync, MiB/s", statistics.median(ups), statistics.median(dds), "MiB/s", r, "≥ 0.9", r >= 0.9, ups, dds)
    row("RSS growth during the upload, MiB", max(rss_during), None, "MiB", None, "flat", max(rss_during) <= 16, rss_during, [], "{:.1f}")


def sha256_one_core_mib_s():
    """OpenSSL's SHA-256 on one core, 16 KiB blocks (the CPU's SHA extensions when it has them)."""
    out = subprocess.run(["openssl", "speed", "-evp", "sha256", "-bytes", "16384", "-seconds", "3"],
                         check=True, capture_output=True, text=True).stdout
    line = next(l for l in out.splitlines() if l.lower().startswith("sha256"))
    return float(line.split()[-1].rstrip("k")) * 1000 / MIB  # openssl counts in 1000s of bytes per second


def ceiling():
    """5. The CPU ceiling: the same upload with everything on a tmpfs (/dev/shm): the source in
    memory, the data dir there too, so Sharelock's fsync and rename cost nothing, and dd without
    fsync into the same tmpfs. What remains is receive + hash + write on the machine's cores."""
    work = Path(tempfile.mkdtemp(prefix="bench-ceiling-", dir=SHM))
    try:
        big, data = work / "big.bin", work / "data"
        write_random(big, BIG)
        sl(data, "add", work / "big.bin")  # makes the data dir; the stored copy stays
        server = Sharelock(data, work)
        try:
            slot = sl(data, "slot", "--max-size", "4G", "--max-files", "100")
            ups, dds = alternate(lambda: put_into_slot(data, server, big, slot, "up.bin")[0],
                                 lambda: timed_dd(big, data / "store" / "dd.out", fsync=False))
        finally:
            server.stop()
        sha = [sha256_one_core_mib_s() for _ in range(3 if QUICK else 5)]
        r = statistics.median(ups) / statistics.median(dds)
        row(f"Ceiling: upload ({BIG // MIB} MiB PUT) vs dd, all on tmpfs, no fsync, MiB/s", statistics.median(ups), statistics.median(dds),
            "MiB/s", r, "record", None, ups, dds)
        r = statistics.median(ups) / statistics.median(sha)
        row("Ceiling: that upload vs SHA-256 on one core (openssl speed, 16 KiB), MiB/s", statistics.median(ups), statistics.median(sha),
            "MiB/s", r, "record", None, ups, sha)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def publish(work, data, big):
    """6. Publish: sharelock add vs cp + sha256sum."""
    adds, cps = [], []
    for _ in range(3):
        started = time.perf_counter()
        added = sl(data, "add", big)
        adds.append(time.perf_counter() - started)
        sl(data, "rm", added[0]["id"])
        started = time.perf_counter()
        shutil.copyfile(big, work / "copy.bin")
        subprocess.run(["sha256sum", work / "copy.bin"], check=True, capture_output=True)
        cps.append(time.perf_counter() - started)
        (work / "copy.bin").unlink()
    r = statistics.median(adds) / statistics.median(cps)
    row(f"Publish ({BIG // MIB} MiB) vs cp + sha256sum, seconds", statistics.median(adds), statistics.median(cps), "s", r, "≤ 1.0", r <= 1.0, adds, cps, "{:.2f}")


def many_small(work):
    """7. 10,000 small files (4 KiB) in one `sharelock add` call, each run into a fresh data dir,
    against `cp` of the same files followed by one `sha256sum` of the copies; ms per file."""
    sources = work / "small-files"
    sources.mkdir()
    for i in range(SMALL_FILES):
        (sources / f"s{i:05d}").write_bytes(os.urandom(4096))
    paths = [sources / n for n in sorted(os.listdir(sources))]
    adds, cps = [], []
    for i in range(3):
        data = work / f"small-data-{i}"
        sl(data, "ls")  # the data dir made beforehand: the run times the add alone
        started = time.perf_counter()
        added = sl(data, "add", *paths)
        adds.append((time.perf_counter() - started) * 1000 / SMALL_FILES)
        assert len(added) == SMALL_FILES, len(added)
        shutil.rmtree(data)
        copies = work / "small-copies"
        started = time.perf_counter()
        subprocess.run(["cp", "-r", sources, copies], check=True)
        subprocess.run(["sha256sum", *[copies / p.name for p in paths]], check=True, capture_output=True)
        cps.append((time.perf_counter() - started) * 1000 / SMALL_FILES)
        shutil.rmtree(copies)
    shutil.rmtree(sources)
    r = statistics.median(adds) / statistics.median(cps)
    row(f"Publish {SMALL_FILES:,} × 4 KiB in one add vs cp -r + sha256sum, ms per file", statistics.median(adds), statistics.median(cps),
        "ms", r, "< 1 ms", statistics.median(adds) < 1.0, adds, cps, "{:.3f}")


async def hold_idle(port, path, count, watch_seconds, during):
    """Opens `count` keep-alive connections, each sending one GET of `path` and reading the whole
    answer, then idle. Calls `during()` (in a thread) once all are open, then watches for
    `watch_seconds` how many the server keeps: (answered, refused, open after each second, result
    of `during`)."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    closed = asyncio.Event()
    open_now = 0
    answered = refused = 0
    gate = asyncio.Semaphore(256)  # connects in flight; the listen backlog stays unflooded

    async def one():
        nonlocal open_now, answered, refused
        async with gate:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
                writer.write(request)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
                await asyncio.wait_for(reader.readexactly(length), 10)
                if not head.startswith(b"HTTP/1.1 200"):
                    raise OSError(head.split(b"\r\n")[0].decode())
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, AttributeError):
                refused += 1
                return
        answered += 1
        open_now += 1
        try:
            await asyncio.wait_for(reader.read(1), watch_seconds + 120)  # b"" once the server closes it
        except (OSError, asyncio.TimeoutError):
            pass
        open_now -= 1
        writer.close()

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    started = time.monotonic()
    while answered + refused < count and time.monotonic() - started < 60:
        await asyncio.sleep(0.1)
    opened_in = time.monotonic() - started
    result = await asyncio.to_thread(during, open_now)
    timeline = []
    for _ in range(watch_seconds):
        timeline.append(open_now)
        if open_now == 0:
            break
        await asyncio.sleep(1)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return answered, refused, opened_in, timeline, result


def idle_connections(work, small):
    """8. 10,000 idle keep-alive connections: the server's memory with them open, and a new
    client served meanwhile (wrk on connections of its own)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    data = work / "idle-data"
    file_id = sl(data, "add", small)[0]["id"]
    server = Sharelock(data, work)
    try:
        url = sl(data, "link", file_id, "--expires", "never", "--base-url", f"http://127.0.0.1:{server.port}")["url"]
        path = url.split(str(server.port), 1)[1]
        baseline = server.rss_mib("VmRSS")

        def during(open_now):
            seen = {"client_open": open_now, "server_fds": len(os.listdir(f"/proc/{server.pid}/fd")),
                    "rss": server.rss_mib("VmRSS"), "hwm": server.rss_mib("VmHWM")}
            rps, p99, _ = wrk_latency(url, 32, seconds=5)  # fails on any error
            seen.update(rps=rps, p99=p99, rss_after_wrk=server.rss_mib("VmRSS"), hwm_after_wrk=server.rss_mib("VmHWM"))
            return seen

        answered, refused, opened_in, timeline, seen = asyncio.run(hold_idle(server.port, path, IDLE_CONNECTIONS, 40, during))
    finally:
        server.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    log(f"idle: {answered} answered, {refused} failed, opened in {opened_in:.1f} s; {seen}; "
        f"open by the client, second by second after wrk: {timeline}")
    rss = max(seen["hwm"], seen["hwm_after_wrk"])
    row(f"RSS with {IDLE_CONNECTIONS:,} idle keep-alive connections (VmHWM), MiB", rss, baseline, "MiB", None, "≤ 256 MiB",
        rss <= 256, [seen["rss"], seen["hwm"], seen["rss_after_wrk"], seen["hwm_after_wrk"]], [baseline], "{:.1f}")
    row("New clients meanwhile: wrk 32 conns, 5 s, req/s", seen["rps"], None, "req/s", None, "served, no errors", True,
        [seen["rps"], seen["p99"]], [], "{:.0f}")
    IDLE_NOTES.append(
        f"{answered:,} of {IDLE_CONNECTIONS:,} connections answered ({refused:,} failed), opened in {opened_in:.1f} s; "
        f"when all were opened the client still held {seen['client_open']:,} and the server {seen['server_fds']:,} descriptors; "
        f"VmRSS {seen['rss']:.1f} MiB, VmHWM {seen['hwm']:.1f} MiB (before: {baseline:.1f}); wrk meanwhile "
        f"{seen['rps']:.0f} req/s, p99 {seen['p99']:.2f} ms, no errors; connections still open, second by second after wrk: "
        f"{', '.join(map(str, timeline))}")


IDLE_NOTES = []


def print_rows():
    for r in results:
        print(f"| {r['name']} | {r['ours']} | {r['theirs']} | {r['ratio']} | {r['target']} | {r['met']} |")
    for r in results:
        print(f"  runs: {r['name']}: {', '.join(map(str, r['runs_ours']))} | {', '.join(map(str, r['runs_theirs'])) or '–'}")
    for n in IDLE_NOTES:
        print(n)


def scale(work):
    """6. Scale: the same small GET with 10 files in the store vs SCALE_FILES."""
    few, many = work / "few", work / "many"
    sources = work / "sources"
    sources.mkdir()
    for i in range(SCALE_FILES):
        (sources / f"f{i:06d}.txt").write_bytes(b"x" * 4096)
    names = sorted(os.listdir(sources))
    sl(few, "add", *[sources / n for n in names[:10]])
    log(f"adding {SCALE_FILES} files")
    for at in range(0, len(names), 5000):
        sl(many, "add", *[sources / n for n in names[at:at + 5000]])
    shutil.rmtree(sources)
    a, b = Sharelock(few, work), Sharelock(many, work)
    try:
        url_a = sl(few, "link", sl(few, "ls")[0]["id"], "--expires", "never", "--base-url", f"http://127.0.0.1:{a.port}")["url"]
        url_b = sl(many, "link", sl(many, "ls")[0]["id"], "--expires", "never", "--base-url", f"http://127.0.0.1:{b.port}")["url"]
        xs, ys = alternate(lambda: wrk_rps(url_b), lambda: wrk_rps(url_a), runs=3)
        r = statistics.median(xs) / statistics.median(ys)
        row(f"Scale: small GETs, {SCALE_FILES:,} files vs 10, req/s", statistics.median(xs), statistics.median(ys), "req/s", r, "≥ 0.9", r >= 0.9, xs, ys)
    finally:
        a.stop()
        b.stop()


def history_cost(work):
    """7. The access history's cost: the small GET on two Sharelock servers, the same 4 KiB file,
    one recording every download in its history and one with `settings history off`."""
    on, off = work / "history-on", work / "history-off"
    small = work / "history-small.bin"
    small.write_bytes(os.urandom(4096))
    for data in (on, off):
        sl(data, "add", small)
    sl(off, "settings", "history", "off")
    a, b = Sharelock(on, work), Sharelock(off, work)
    try:
        url_a = sl(on, "link", sl(on, "ls")[0]["id"], "--expires", "never", "--base-url", f"http://127.0.0.1:{a.port}")["url"]
        url_b = sl(off, "link", sl(off, "ls")[0]["id"], "--expires", "never", "--base-url", f"http://127.0.0.1:{b.port}")["url"]
        # More runs than elsewhere: the target (5%) is smaller than the machine's run-to-run
        # spread in throughput, so the verdict is on the CPU each request costs the server.
        xs, ys = alternate(lambda: wrk_cost(url_a, a.pid), lambda: wrk_cost(url_b, b.pid), runs=HISTORY_RUNS)
        rps_on, rps_off = [x[0] for x in xs], [y[0] for y in ys]
        cpu_on, cpu_off = [x[1] for x in xs], [y[1] for y in ys]
        r = statistics.median(rps_on) / statistics.median(rps_off)
        row("Small GETs, access history on vs off, req/s", statistics.median(rps_on), statistics.median(rps_off), "req/s", r, "≥ 0.95", r >= 0.95, rps_on, rps_off)
        c = statistics.median(cpu_off) / statistics.median(cpu_on)
        row("Small GETs, access history on vs off, server CPU µs per request (ratio: off / on)", statistics.median(cpu_on), statistics.median(cpu_off), "µs", c, "≥ 0.95", c >= 0.95, cpu_on, cpu_off, fmt="{:.1f}")
        rows = len(sl(on, "log", "--limit", "100000000"))
        log(f"history rows written by the 'on' server: {rows}")
    finally:
        a.stop()
        b.stop()


def desktop(work):
    """8. The desktop app with DESKTOP_FILES files, in its real window under Xvfb, driven through
    WebDriver: bench/desktop_scale.py (its docstring says how each time is taken), its figures
    turned into rows here. Runs last: it wants the machine to itself. The system's Python: its
    drag source needs python3-gi."""
    app = ROOT / "target" / "release" / "sharelock-desktop"
    if not app.exists():
        raise SystemExit("build first: cargo build --release -p sharelock-desktop (bench/run does)")
    args = ["/usr/bin/python3", str(ROOT / "bench" / "desktop_scale.py"), "--files", str(DESKTOP_FILES),
            "--app", str(app), "--cli", str(BIN), "--no-steps"]
    if QUICK:
        args += ["--runs", "3", "--launches", "1"]
    # A WebDriver session is sometimes lost on this machine (the window benchmark's log says
    # where); the run is tried once more before the rows are given up, and the server's rows
    # are written either way.
    for attempt in (1, 2):
        out = subprocess.run(args, stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(work)})
        if out.returncode == 0:
            break
        log(f"the window benchmark failed (attempt {attempt} of 2, exit {out.returncode})")
    else:
        FAILED.append("the desktop rows: the window benchmark failed twice (its log is above)")
        results.append({"name": "Desktop rows", "ours": "not measured", "theirs": "–", "unit": "", "ratio": "–",
                        "target": "–", "met": "**failed**", "runs_ours": [], "runs_theirs": []})
        return
    r = json.loads(out.stdout)
    big, empty, n = r["big"], r["empty"], f"{r['files']:,}"
    med = statistics.median
    starts, ready = [s["rows"] for s in big["starts"]], [s["rows"] for s in empty["starts"]]
    row(f"Desktop, {n} files: list shown after start, ms (reference: an empty store's window ready)",
        med(starts), med(ready), "ms", None, "≤ 1500 ms", med(starts) <= 1500, starts, ready)
    for label in ("filter to 1 file", "clear the filter", "filter to the names with a 9", "sort by name",
                  "sort by size", "sort by created_at", "sort by downloads", "select a row"):
        frames = [m["frame"] for m in big[label]]
        shown = label.replace("select a row", "select a row: the row highlighted").replace("created_at", "date added")
        row(f"Desktop, {n} files: {shown}, ms", med(frames), None, "ms", None, "≤ 100 ms", med(frames) <= 100, frames, [])
    details = [m["details"] for m in big["select a row"]]
    row(f"Desktop, {n} files: select a row: its details shown, ms", med(details), None, "ms", None, "≤ 100 ms",
        med(details) <= 100, details, [])
    pss_big, pss_empty = [s["pss"] for s in big["starts"]], [s["pss"] for s in empty["starts"]]
    m = med(pss_big) / med(pss_empty)
    row(f"Desktop memory (PSS of the app and its WebKit processes), {n} files vs an empty store, MiB",
        med(pss_big), med(pss_empty), "MiB", m, "≤ 1.5×", m <= 1.5, pss_big, pss_empty)
    cli = r["cli_add_ms"]
    for name, store in ((f"onto {n} files", big), ("onto an empty store", empty)):
        drop = store["drop"]
        beside = drop.get("cli_same_store", cli)
        m = drop["all_in"] / med(beside)
        row(f"Desktop: a drop of 1,000 files {name}, all in the list, vs `sharelock add`, ms", drop["all_in"],
            med(beside), "ms", m, "≤ 2×", m <= 2, [drop["all_in"]], beside)
        progress = drop.get("progress")
        row(f"Desktop: the drop {name}, progress shown after the release, ms", progress if progress is not None else float("nan"),
            None, "ms", None, "shown", progress is not None, [progress] if progress is not None else [], [])


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), "?")
    mem = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) // 1024 // 1024
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip().replace("nginx version: ", "")
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return (f"{os.cpu_count()} cores ({cpu}), {mem} GiB, Linux {platform.release()}; {nginx}; {wrk.split(' [')[0]}; "
            f"Sharelock {commit}, release build")


def report():
    table = ["| benchmark | Sharelock | reference | ratio | target | met |", "|---|---:|---:|---:|---|---|"]
    for r in results:
        table.append(f"| {r['name']} | {r['ours']} | {r['theirs']} | {r['ratio']} | {r['target']} | {r['met']} |")
    runs = ["| benchmark | Sharelock runs | reference runs |", "|---|---|---|"]
    for r in results:
        runs.append(f"| {r['name']} | {', '.join(map(str, r['runs_ours']))} | {', '.join(map(str, r['runs_theirs'])) or '–'} |")
    print("\n".join(table))
    # The sections written by hand after the generated ones (history, desktop, remote mode...)
    # are kept: everything from the first heading after "## All runs".
    old = (ROOT / "BENCHMARKS.md").read_text() if (ROOT / "BENCHMARKS.md").exists() else ""
    tail = re.search(r"^## All runs\n.*?(^## .*)", old, re.M | re.S)
    notes = tail.group(1) if tail else (ROOT / "bench" / "notes.md").read_text() if (ROOT / "bench" / "notes.md").exists() else ""
    notes = notes.rstrip()
    idle = "\n".join(f"- Idle connections: {n}" for n in IDLE_NOTES)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = f"""# Benchmarks

Written by `bench/run` ({'quick run' if QUICK else 'full run'}, {when}) on: {machine()}.

{chr(10).join(table)}

Ratios are Sharelock's median over the reference's median (nginx, `dd`, `cp` + `sha256sum`, or
Sharelock with 10 files); for the publish row lower is better. These machines are shared and
noisy: the ratios, not the absolute figures, are what to compare between runs.

## Method

- **Big download**: `curl -o /dev/null` of a {BIG // MIB} MiB file of random bytes through a Sharelock
  link (Sharelock serving) and through an nginx-checked link to the same stored file (nginx with
  `sendfile on`), alternately, {RUNS} runs each.
- **Small GETs**: `wrk -t2 -c32 -d{WRK_SECONDS}s --latency` on a 4 KiB file: a Sharelock signed link (HMAC
  check, database lookup, download counted) against nginx `secure_link` + `secure_link_md5` on the
  same file, alternately, {RUNS} runs each; then the same with `-c256`. The p99 is wrk's "99%"
  line (its unit, us, ms or s, converted to ms), the median of the runs; its ratio is nginx's over
  Sharelock's, so ≥ 1.0 means no slower. wrk shares the machine's cores with the server under test.
- **Memory**: the Sharelock server's peak resident set (VmHWM, reset before each round through
  `/proc/PID/clear_refs`) while 32 `curl` clients download a 256 MiB file at once.
- **Upload**: `curl -T` of the big file into a slot (Sharelock hashes, writes, fsyncs and renames)
  against `dd bs=1M conv=fsync` of the same file into the store's own directory
  (`DATA/store/`), alternately, {RUNS} runs each, with `sync` before every upload and every `dd`
  so that neither pays for the write-back of the run before it; each output is removed after its
  run. The RSS growth is the server's peak during the upload minus its resident set before it.
- **Ceiling**: the same upload and `dd` (without `conv=fsync`) with the source, the data dir and
  `dd`'s output all on a tmpfs (`/dev/shm`): the page cache is the storage and fsync costs
  nothing, so what is left is receiving, hashing and writing on two cores shared with curl.
  Sharelock is unchanged (it still calls fsync; on a tmpfs that returns at once). Beside it,
  SHA-256 on one core: `openssl speed -evp sha256 -bytes 16384 -seconds 3`, {RUNS} runs.
- **Publish**: `sharelock add` of the big file (copy and SHA-256 in one pass, fsync, rename, database
  row) against `cp` followed by `sha256sum` of the copy. The source is in the page cache for both.
- **Many small files**: {SMALL_FILES:,} files of 4 KiB (random) in ONE `sharelock add` call with
  {SMALL_FILES:,} paths, into a fresh data dir made beforehand, the whole command timed
  (start-up included) and divided by the count; against `cp -r` of the folder followed by one
  `sha256sum` of the {SMALL_FILES:,} copies. 3 runs each.
- **Idle connections**: a fresh server with the 4 KiB file; a Python asyncio client (raising its
  own `RLIMIT_NOFILE` to the hard limit) opens {IDLE_CONNECTIONS:,} connections, 256 connecting at
  a time, each sending one keep-alive GET of the link and reading the whole answer, then idle.
  Once all are done: the server's VmRSS and VmHWM and its open descriptors, then
  `wrk -t2 -c32 -d5s --latency` on new connections (no error allowed), the memory again, then
  for up to 40 s how many of the idle connections the server still keeps open, once a second.
  The server keeps connections to a share of its `RLIMIT_NOFILE` (see `src/http/connection.rs`)
  and closes an idle keep-alive connection after its header timeout (15 s).
- **Scale**: the small-GET benchmark against two Sharelock servers, one whose store holds 10 files
  and one with {SCALE_FILES:,}, alternately, 3 runs each.
- **History cost**: the small-GET benchmark against two Sharelock servers on the same 4 KiB file,
  one recording its access history (every wrk request is a completed download, so a row and two
  feed entries each) and one with `sharelock settings history off`, alternately, {RUNS} runs each.
- **Desktop**: the release app with {DESKTOP_FILES:,} files in its store, in its real window under
  Xvfb (1280×800), launched and driven through tauri-driver and WebKitWebDriver
  (`bench/desktop_scale.py`; "Desktop with 100,000 files" below has the details). Every time is
  read on the page's clock and ends at the frame painted after the change. The list: from the
  WebDriver request that starts the app to the frame with the first file row (the reference: the
  same build's window ready on an empty store). Filter, sort and select: as a user's events do
  them, medians of their runs. Memory: PSS of the app and its WebKit processes 10 s after the
  list showed, against the same build with an empty store. A drop: a folder of 1,000 files
  dragged from a GTK drag source onto the window with the pointer moved by xdotool, from the
  button's release until all are in the list and the database, against `sharelock add` of the
  same folder into the same data dir just after that drop, with the app closed (the median of
  two).

## All runs

{chr(10).join(runs)}

{idle}

{notes}
"""
    (ROOT / "BENCHMARKS.md").write_text(text)
    log("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
