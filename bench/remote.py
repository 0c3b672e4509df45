#!/usr/bin/env python3
"""The API against what it stands beside, in one run, on the same release binary and files.

- Upload: a 1 GiB file into a running `sharelock serve`, three ways, alternately: the remote CLI
  (`sharelock --server … add`, the API client streaming the raw body), `curl` POSTing the raw
  body to /api/v1/files, and `curl -T` into an upload slot (the reference).
- `ls` with 10,000 files: `sharelock --json ls` on the data dir against the same command with
  `--server` (process start, one request, JSON out), alternately; the medians of N runs.

Run after `cargo build --release -p sharelock`: `python3 bench/remote.py [--quick]`. It prints
Markdown rows for BENCHMARKS.md and removes what it wrote. A benchmark, not a test.
"""

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The helpers the main benchmarks use (bench.py runs nothing when imported).
from bench import free_port, log, write_random

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "sharelock"
QUICK = "--quick" in sys.argv
MIB = 1024 * 1024
BIG = 256 * MIB if QUICK else 1024 * MIB
UPLOAD_RUNS = 2 if QUICK else 3
LS_FILES = 1_000 if QUICK else 10_000
LS_RUNS = 5 if QUICK else 21


def sl(data, *args, remote=None):
    """Runs the CLI with --json; on `remote` (base, token) through the API."""
    opts = ["--server", remote[0], "--token", remote[1]] if remote else []
    out = subprocess.run([BIN, "--data-dir", data, "--json", *opts, *map(str, args)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout) if out.stdout.strip() else None


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


class Serve:
    def __init__(self, data):
        self.port = free_port()
        self.proc = subprocess.Popen([BIN, "--data-dir", data, "serve", "--bind", f"127.0.0.1:{self.port}",
                                      "--no-announce"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening on"), line
        self.base = line.split()[-1]

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def upload(work):
    data = work / "up-data"
    token = sl(data, "token", "create", "--name", "bench")["token"]
    server = Serve(data)
    remote = (server.base, token)
    big = work / "big.bin"
    write_random(big, BIG)
    rates = {"cli": [], "curl": [], "slot": []}
    try:
        for run in range(UPLOAD_RUNS):
            for way in rates:
                if way == "cli":
                    cmd = [BIN, "--data-dir", work / "nothing", "--server", server.base, "--token", token, "add", big]
                elif way == "curl":
                    cmd = ["curl", "-sf", "-o", "/dev/null", "-X", "POST", "-T", big,
                           "-H", f"Authorization: Bearer {token}", f"{server.base}/api/v1/files?name=big.bin"]
                else:
                    slot = sl(data, "slot", "--max-size", "2G")
                    base, query = slot["url"].split("?", 1)
                    cmd = ["curl", "-sf", "-o", "/dev/null", "-T", big, f"{base}/big.bin?{query}"]
                seconds = timed(cmd)
                rates[way].append(BIG / MIB / seconds)
                log(f"upload {way} run {run + 1}: {rates[way][-1]:.0f} MiB/s")
                for f in sl(data, "ls"):
                    sl(data, "rm", f["id"])
    finally:
        server.stop()
        big.unlink()
        shutil.rmtree(data)
    return rates


def ls_latency(work):
    data = work / "ls-data"
    folder = work / "many"
    folder.mkdir()
    for i in range(LS_FILES):
        (folder / f"f{i:05}.txt").write_bytes(b"x")
    log(f"adding {LS_FILES} files")
    subprocess.run([BIN, "--data-dir", data, "add", folder], check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(folder)
    token = sl(data, "token", "create", "--name", "bench", "--scope", "read")["token"]
    server = Serve(data)
    times = {"local": [], "remote": []}
    try:
        assert len(sl(data, "ls", remote=(server.base, token))) == LS_FILES
        for _ in range(LS_RUNS):
            times["local"].append(timed([BIN, "--data-dir", data, "--json", "ls"]))
            times["remote"].append(timed([BIN, "--data-dir", work / "nothing", "--json", "--server", server.base,
                                          "--token", token, "ls"]))
    finally:
        server.stop()
        shutil.rmtree(data)
    return times


def main():
    assert BIN.exists(), "build first: cargo build --release -p sharelock"
    work = Path(tempfile.mkdtemp(prefix="sharelock-remote-bench-"))
    try:
        rates = upload(work)
        times = ls_latency(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = statistics.median
    fmt = lambda xs, f: ", ".join(f.format(x) for x in xs)
    size = f"{BIG // MIB} MiB"
    print(f"| API upload ({size}), remote CLI `add`, MiB/s | {med(rates['cli']):.0f} | "
          f"{med(rates['slot']):.0f} | {med(rates['cli']) / med(rates['slot']):.2f} | {fmt(rates['cli'], '{:.0f}')} |")
    print(f"| API upload ({size}), curl raw POST, MiB/s | {med(rates['curl']):.0f} | "
          f"{med(rates['slot']):.0f} | {med(rates['curl']) / med(rates['slot']):.2f} | {fmt(rates['curl'], '{:.0f}')} |")
    print(f"| slot upload ({size}), curl -T, MiB/s (the reference) | – | – | – | {fmt(rates['slot'], '{:.0f}')} |")
    ms = {k: [x * 1000 for x in v] for k, v in times.items()}
    print(f"| `ls --json`, {LS_FILES:,} files, remote vs local, ms | {med(ms['remote']):.0f} | "
          f"{med(ms['local']):.0f} | {med(ms['remote']) / med(ms['local']):.2f} | "
          f"remote {fmt(ms['remote'], '{:.0f}')}; local {fmt(ms['local'], '{:.0f}')} |")


if __name__ == "__main__":
    main()
