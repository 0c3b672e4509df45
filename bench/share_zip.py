#!/usr/bin/env python3
""""Download all" of a share of 1,000 files totalling 1 GiB, against one 1 GiB file.

Both are served by the same `sharelock serve` (release build: `cargo build --release -p sharelock`)
from one data dir and fetched with curl into /dev/null, alternately, so the noise of a shared
machine falls on both; the figures that matter are the medians' ratio and the server's peak RSS
(VmHWM) after every run, which must stay flat: the zip is streamed, never built.

    python3 bench/share_zip.py [--runs N]
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "sharelock"
MIB = 1024 * 1024
GIB = 1024 * MIB
FILES = 1000
RUNS = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 5


def log(msg):
    print(f"== {msg}", file=sys.stderr, flush=True)


def cli(data, *args):
    out = subprocess.run([BIN, "--data-dir", data, "--json", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def fetch(url):
    """MiB/s of one whole download into /dev/null, and the bytes received."""
    out = subprocess.run(
        ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{speed_download} %{size_download}", url],
        check=True, capture_output=True, text=True, timeout=600,
    ).stdout.split()
    return float(out[0]) / MIB, int(out[1])


def peak_rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main():
    if not BIN.exists():
        raise SystemExit(f"{BIN} is missing: cargo build --release -p sharelock")
    with tempfile.TemporaryDirectory(prefix="sharelock-zip-bench-") as tmp:
        tmp = Path(tmp)
        data, src = tmp / "data", tmp / "src"
        (src / "many").mkdir(parents=True)
        log(f"writing {FILES} files totalling 1 GiB and one 1 GiB file")
        size = GIB // FILES
        for i in range(FILES):
            extra = GIB - size * FILES if i == FILES - 1 else 0
            (src / "many" / f"file {i:04}.bin").write_bytes(os.urandom(size + extra))
        with open(src / "big.bin", "wb") as f:
            for _ in range(GIB // (64 * MIB)):
                f.write(os.urandom(64 * MIB))
        many = [f["id"] for f in cli(data, "add", src / "many")]
        big = cli(data, "add", src / "big.bin")[0]["id"]
        server = subprocess.Popen(
            [BIN, "--data-dir", data, "serve", "--bind", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        try:
            base = server.stdout.readline().strip().removeprefix("listening on ")
            share = cli(data, "link", *many, "--name", "bench", "--base-url", base, "--expires", "never")["url"]
            single = cli(data, "link", big, "--base-url", base, "--expires", "never")["url"]
            zip_speeds, file_speeds, rss = [], [], []
            for run in range(RUNS):
                speed, got = fetch(share)
                zip_speeds.append(speed)
                speed, _ = fetch(single)
                file_speeds.append(speed)
                rss.append(peak_rss_mib(server.pid))
                log(f"run {run + 1}: zip {zip_speeds[-1]:.0f} MiB/s ({got} bytes), file {file_speeds[-1]:.0f} MiB/s, "
                    f"peak RSS {rss[-1]:.1f} MiB")
        finally:
            server.terminate()
            server.wait(timeout=30)
    zip_median, file_median = statistics.median(zip_speeds), statistics.median(file_speeds)
    print("| benchmark | share zip | single file | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| Download all, 1,000 files totalling 1 GiB vs one 1 GiB file, MiB/s | {zip_median:.0f} | "
          f"{file_median:.0f} | {zip_median / file_median:.2f} |")
    print(f"| Server peak RSS after {RUNS} runs of each, MiB | {rss[-1]:.1f} | – | – |")
    print(f"runs: zip {', '.join(f'{s:.0f}' for s in zip_speeds)}; file {', '.join(f'{s:.0f}' for s in file_speeds)}; "
          f"RSS {', '.join(f'{r:.1f}' for r in rss)}")


if __name__ == "__main__":
    main()
