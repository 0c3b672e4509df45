#!/usr/bin/env python3
"""Two release builds side by side on `sharelock add` of many small files, as BENCHMARKS.md
records a change to the add path: alternately, each run into a fresh data dir made beforehand
(the command's start-up included, divided by the count), against `cp -r` of the folder and one
`sha256sum` of the copies. Then one add of 1,000 files per build under `strace -f -c`, for the
system calls per file (fsync, fcntl: SQLite's locks).

    python3 bench/compare_add.py BEFORE_BIN AFTER_BIN [--files N] [--runs N]

The work dir is under target/ (BENCH_DIR overrides it): the same file system as a data dir."""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def add(binary, data, paths):
    subprocess.run([binary, "--data-dir", data, "add", *paths], check=True, capture_output=True)


def syscalls(binary, work, paths):
    """Calls per file of `fsync`, `fdatasync` and `fcntl` in one add of `paths`."""
    data = work / "strace-data"
    subprocess.run([binary, "--data-dir", data, "ls"], check=True, capture_output=True)
    out = work / "strace.txt"
    subprocess.run(["strace", "-f", "-c", "-o", out, binary, "--data-dir", data, "add", *paths],
                   check=True, capture_output=True)
    counts = {}
    for line in out.read_text().splitlines():
        parts = line.split()
        if parts and parts[-1] in ("fsync", "fdatasync", "fcntl", "openat", "renameat2", "rename"):
            counts[parts[-1]] = int(parts[3])
    shutil.rmtree(data)
    return {k: v / len(paths) for k, v in sorted(counts.items())}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = Path(os.environ.get("BENCH_DIR", ROOT / "target"))
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="compare-add-", dir=base) as tmp:
        work = Path(tmp)
        sources = work / "small-files"
        sources.mkdir()
        for i in range(args.files):
            (sources / f"s{i:05d}").write_bytes(os.urandom(4096))
        paths = [sources / n for n in sorted(os.listdir(sources))]
        times = {"before": [], "after": [], "cp + sha256sum": []}
        for run in range(args.runs):
            for name, binary in (("before", args.before), ("after", args.after)):
                data = work / f"data-{name}-{run}"
                subprocess.run([binary, "--data-dir", data, "ls"], check=True, capture_output=True)
                started = time.perf_counter()
                add(binary, data, paths)
                times[name].append((time.perf_counter() - started) * 1000 / args.files)
                shutil.rmtree(data)
            copies = work / "copies"
            started = time.perf_counter()
            subprocess.run(["cp", "-r", sources, copies], check=True)
            subprocess.run(["sha256sum", *[copies / p.name for p in paths]], check=True, capture_output=True)
            times["cp + sha256sum"].append((time.perf_counter() - started) * 1000 / args.files)
            shutil.rmtree(copies)
        reference = statistics.median(times["cp + sha256sum"])
        print(f"{args.files:,} files of 4 KiB in one add, ms per file (median of {args.runs}; runs):")
        for name, runs in times.items():
            median = statistics.median(runs)
            print(f"  {name}: {median:.3f} ({reference and median / reference:.2f}× cp + sha256sum); "
                  + ", ".join(f"{t:.3f}" for t in runs))
        print("system calls per file, one add of 1,000 files under strace -f -c:")
        for name, binary in (("before", args.before), ("after", args.after)):
            counts = syscalls(binary, work, paths[:1000])
            print(f"  {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
