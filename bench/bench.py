#!/usr/bin/env python3
"""Sharelock and nginx side by side, in one run, on the same files.

Each pair of measurements runs alternately (Sharelock, nginx, Sharelock, ...) so that the noise
of a shared machine falls on both; the figures that matter are the ratios of the medians.
Both servers run on loopback with the same number of workers as this machine has cores, both
write an access log, and nginx serves the very files in Sharelock's store (through the
configuration `sharelock nginx-config` prints, its secure_link location for nginx's side).
"""

import json
import os
import platform
import re
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
BIN = ROOT / "target" / "release" / "sharelock"
QUICK = "--quick" in sys.argv
# `--only scale` runs the scale comparison alone (to check one change quickly); no report.
ONLY_SCALE = "--only" in sys.argv and "scale" in sys.argv
# `--only history` runs the access history's cost alone (history on vs off); no report.
ONLY_HISTORY = "--only" in sys.argv and "history" in sys.argv
RUNS = 3 if QUICK else 5
WRK_SECONDS = 4 if QUICK else 10
MIB = 1024 * 1024
GIB = 1024 * MIB
BIG = 256 * MIB if QUICK else GIB
SCALE_FILES = 10_000 if QUICK else 100_000


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


def alternate(a, b, runs=RUNS):
    xs, ys = [], []
    for _ in range(runs):
        xs.append(a())
        ys.append(b())
    return xs, ys


def spread(values):
    return f"{min(values):.0f}–{max(values):.0f}"


results = []  # rows: name, ours, theirs, unit, ratio, target, met, detail


def row(name, ours, theirs, unit, ratio, target, met, runs_ours, runs_theirs, fmt="{:.0f}"):
    results.append({
        "name": name, "ours": fmt.format(ours), "theirs": fmt.format(theirs) if theirs is not None else "–", "unit": unit,
        "ratio": f"{ratio:.2f}" if ratio is not None else "–", "target": target, "met": "yes" if met else "**no**",
        "runs_ours": [round(v, 1) for v in runs_ours], "runs_theirs": [round(v, 1) for v in runs_theirs],
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


def run_all(work, data):
    log(f"work dir {work}")
    if ONLY_SCALE:
        return scale(work)
    if ONLY_HISTORY:
        return history_cost(work)
    big, mid, small = work / "big.bin", work / "mid.bin", work / "small.bin"
    write_random(big, BIG)
    write_random(mid, 256 * MIB)
    small.write_bytes(os.urandom(4096))
    ids = {name: sl(data, "add", path)[0]["id"] for name, path in [("big", big), ("mid", mid), ("small", small)]}
    server = Sharelock(data, work)
    nginx = Nginx(data, work, server.port)
    try:
        # 1. Big download.
        ours, theirs = links(data, ids["big"], server, nginx)
        xs, ys = alternate(lambda: curl_mib_s(ours), lambda: curl_mib_s(theirs))
        r = statistics.median(xs) / statistics.median(ys)
        row(f"Big download ({BIG // MIB} MiB), MiB/s", statistics.median(xs), statistics.median(ys), "MiB/s", r, "≥ 0.9", r >= 0.9, xs, ys)

        # 2. Small tokenised GETs.
        ours, theirs = links(data, ids["small"], server, nginx)
        xs, ys = alternate(lambda: wrk_rps(ours), lambda: wrk_rps(theirs))
        r = statistics.median(xs) / statistics.median(ys)
        row("Small GETs (4 KiB, wrk 32 conns), req/s", statistics.median(xs), statistics.median(ys), "req/s", r, "≥ 0.7", r >= 0.7, xs, ys)

        # 3. Memory: 32 clients download 256 MiB at once.
        ours, _ = links(data, ids["mid"], server, nginx)
        peaks = []
        for _ in range(2 if QUICK else 3):
            server.reset_peak()
            clients = [subprocess.Popen(["curl", "-sS", "--fail", "-o", "/dev/null", ours]) for _ in range(32)]
            assert all(c.wait() == 0 for c in clients)
            peaks.append(server.rss_mib("VmHWM"))
        row("Peak RSS, 32 clients × 256 MiB, MiB", max(peaks), None, "MiB", None, "≤ 64 MiB", max(peaks) <= 64, peaks, [], "{:.1f}")

        # 4. Upload: a big PUT into a slot vs dd with fsync to the same disk.
        slot = sl(data, "slot", "--max-size", "4G", "--max-files", "100")
        put_base, query = slot["url"].split("?")
        rss_during, ups, dds = [], [], []
        for i in range(3):
            server.reset_peak()
            before = server.rss_mib("VmRSS")
            out = subprocess.run(["curl", "-sS", "--fail", "-T", big, "-o", "/dev/null", "-w", "%{speed_upload}",
                                  f"{put_base}/up{i}.bin?{query}"], check=True, capture_output=True, text=True)
            ups.append(float(out.stdout) / MIB)
            rss_during.append(server.rss_mib("VmHWM") - before)
            started = time.perf_counter()
            subprocess.run(["dd", f"if={big}", f"of={work / 'dd.out'}", "bs=1M", "conv=fsync"], check=True, capture_output=True)
            dds.append(BIG / MIB / (time.perf_counter() - started))
            (work / "dd.out").unlink()
            for f in sl(data, "ls"):
                if f.get("slot_id") == slot["id"]:
                    sl(data, "rm", f["id"])
        r = statistics.median(ups) / statistics.median(dds)
        row(f"Upload ({BIG // MIB} MiB PUT) vs dd conv=fsync, MiB/s", statistics.median(ups), statistics.median(dds), "MiB/s", r, "≥ 0.8", r >= 0.8, ups, dds)
        row("RSS growth during the upload, MiB", max(rss_during), None, "MiB", None, "flat", max(rss_during) <= 16, rss_during, [], "{:.1f}")

        # 5. Publish: sharelock add vs cp + sha256sum.
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
    finally:
        nginx.stop()
        server.stop()

    scale(work)
    history_cost(work)
    report()


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
        xs, ys = alternate(lambda: wrk_rps(url_a), lambda: wrk_rps(url_b))
        r = statistics.median(xs) / statistics.median(ys)
        row("Small GETs, access history on vs off, req/s", statistics.median(xs), statistics.median(ys), "req/s", r, "≥ 0.95", r >= 0.95, xs, ys)
        rows = len(sl(on, "log", "--limit", "100000000"))
        log(f"history rows written by the 'on' server: {rows}")
    finally:
        a.stop()
        b.stop()


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
    notes = (ROOT / "bench" / "notes.md").read_text() if (ROOT / "bench" / "notes.md").exists() else ""
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
- **Small GETs**: `wrk -t2 -c32 -d{WRK_SECONDS}s` on a 4 KiB file: a Sharelock signed link (HMAC check,
  database lookup, download counted) against nginx `secure_link` + `secure_link_md5` on the same
  file, alternately, {RUNS} runs each. wrk shares the machine's cores with the server under test.
- **Memory**: the Sharelock server's peak resident set (VmHWM, reset before each round through
  `/proc/PID/clear_refs`) while 32 `curl` clients download a 256 MiB file at once.
- **Upload**: `curl -T` of the big file into a slot (Sharelock hashes, writes, fsyncs and renames)
  against `dd bs=1M conv=fsync` of the same file to the same disk; the RSS growth is the server's
  peak during the upload minus its resident set before it.
- **Publish**: `sharelock add` of the big file (copy and SHA-256 in one pass, fsync, rename, database
  row) against `cp` followed by `sha256sum` of the copy. The source is in the page cache for both.
- **Scale**: the small-GET benchmark against two Sharelock servers, one whose store holds 10 files
  and one with {SCALE_FILES:,}, alternately, 3 runs each.
- **History cost**: the small-GET benchmark against two Sharelock servers on the same 4 KiB file,
  one recording its access history (every wrk request is a completed download, so a row and two
  feed entries each) and one with `sharelock settings history off`, alternately, {RUNS} runs each.

## All runs

{chr(10).join(runs)}

{notes}
"""
    (ROOT / "BENCHMARKS.md").write_text(text)
    log("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
