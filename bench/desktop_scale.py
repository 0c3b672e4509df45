#!/usr/bin/python3
"""The desktop app with 100,000 files in the store, in its real window, as BENCHMARKS.md records it.

    bench/desktop --scale [--files N] [--runs N] [--launches N] [--store DIR] [--profile DIR]

The release app (target/release/sharelock-desktop) runs under an Xvfb display and a D-Bus session
of its own, driven through tauri-driver and WebKitWebDriver with the W3C WebDriver protocol
spoken here over urllib. Every time is taken in the page, on the page's clock
(`performance.timeOrigin + performance.now()`, wall-clock milliseconds, the same clock as this
script's `time.time()`), and each ends at "the next frame": the first `requestAnimationFrame`
after the DOM changed, then a message posted from it, which runs once that frame is painted.

1. List at start: from the WebDriver request that launches the app (WebKitWebDriver starts it)
   to the frame after the first file row is in the list.
2. Filter, sort and select: each done as a user's event does it (the filter field's `input`
   event, a click on a column head, a click on a row), timed to the frame after the list (or the
   details) changed; medians of `--runs`.
3. Memory: PSS of the app and its WebKit processes, 10 s after the list showed, with N files and
   with an empty store, the same build.
4. A folder of 1,000 files dropped on the window through X's drag-and-drop protocol (a GTK drag
   source, the pointer moved by xdotool), against `sharelock add` of the same folder into a fresh
   data dir (the first figure), and of the same folder into the same data dir just after each
   drop, with the app closed, twice (the reference the drop is divided by).

A benchmark, not a test: it prints its figures and never fails on speed. Python's standard
library only (plus python3-gi for the drag source), so it runs with /usr/bin/python3.
"""

import argparse
import json
import os
import select
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

# The helpers the main benchmarks use (bench.py runs nothing when imported).
from bench import free_port, log

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "target/release/sharelock-desktop"
CLI = ROOT / "target/release/sharelock"
DRAG_SOURCE = ROOT / "src-tauri/tests/e2e/drag_source.py"
PATIENCE = 120  # seconds any one wait may take before the run gives up
SETTLE = 10  # seconds after the list showed before memory is read

args = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
args.add_argument("--files", type=int, default=100_000, help="files in the big store")
args.add_argument("--runs", type=int, default=7, help="repeats of each filter, sort and select")
args.add_argument("--launches", type=int, default=3, help="app starts on each store")
args.add_argument("--store", type=Path, help="keep the big store here and reuse it on later runs")
args.add_argument("--app", type=Path, default=APP, help="the app binary (default: the release build)")
args.add_argument("--cli", type=Path, default=CLI, help="the CLI binary (default: the release build)")
args.add_argument("--no-steps", action="store_true",
                  help="leave out where a start's time goes (a diagnostic, no target of its own)")
args.add_argument("--profile", type=Path, help="record the app with perf during each drop, into DIR/perf-*.data")
OPTS = args.parse_args()
APP, CLI = OPTS.app.resolve(), OPTS.cli.resolve()


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def runs(xs):
    return ", ".join(f"{x:.0f}" for x in xs)


# ---------- the machine around the app ----------

class Display:
    """An Xvfb display of this run's own, the size the window tests use."""

    def __init__(self):
        for n in range(90, 110):
            if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
                break
        self.name = f":{n}"
        self.proc = subprocess.Popen(["Xvfb", self.name, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while not Path(f"/tmp/.X11-unix/X{n}").exists():
            if time.time() > deadline:
                raise SystemExit("Xvfb did not start")
            time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Bus:
    """A D-Bus session bus of the app's own: the app is single-instance per session bus."""

    def __init__(self):
        self.proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.address = self.proc.stdout.readline().strip()
        assert self.address.startswith("unix:"), self.address

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Window:
    """tauri-driver, a WebDriver session on the release app, and the app it started."""

    def __init__(self, data, env, log_dir):
        self.data, self.session, self.driver, self.bus = data, None, None, None
        for attempt in range(3):
            driver_log = log_dir / f"driver-{time.time_ns()}.log"
            try:
                return self.start(env, driver_log)
            except (OSError, RuntimeError) as e:
                # A port picked free can be taken before WebKitWebDriver binds it: start afresh.
                log(f"no WebDriver session ({e}); the driver said: {driver_log.read_text()[-600:]!r}; starting it again")
                self.stop()
        raise SystemExit("no WebDriver session in three tries")

    def start(self, env, driver_log):
        self.session = None
        # A bus of each window's own: the app is single-instance per bus, and an app still
        # closing would otherwise take the next launch over.
        self.bus = Bus()
        env = {**env, "DBUS_SESSION_BUS_ADDRESS": self.bus.address}
        self.port, native = free_port(), free_port()
        self.driver = subprocess.Popen(
            ["tauri-driver", "--port", str(self.port), "--native-port", str(native)],
            env={**env, "SHARELOCK_DATA_DIR": str(self.data), "SHARELOCK_PORT": str(free_port()), "GTK_THEME": "Adwaita"},
            stdout=driver_log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while not (port_open(self.port) and port_open(native)):
            if time.time() > deadline:
                raise RuntimeError("tauri-driver and WebKitWebDriver did not start")
            time.sleep(0.05)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "wry", "tauri:options": {"application": str(APP)}}}}
        # The app starts while this request is answered: the launch is timed from here.
        self.launched = time.time() * 1000
        self.session = self.call("POST", "/session", caps, timeout=60)["sessionId"]
        self.call("POST", f"/session/{self.session}/timeouts", {"script": PATIENCE * 1000})

    def call(self, method, path, body=None, timeout=PATIENCE + 10):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: {e.read().decode(errors='replace')}") from None

    def run(self, script, *args):
        """Runs `script` in the page; its last argument is the callback that ends it."""
        return self.call("POST", f"/session/{self.session}/execute/async", {"script": script, "args": list(args)})

    def app_pids(self):
        """The app and its WebKit processes: those that carry this window's data dir."""
        wanted = f"SHARELOCK_DATA_DIR={self.data}".encode()
        pids = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
                # tauri-driver and WebKitWebDriver carry the data dir too.
                if (exe == str(APP) or "/webkit2gtk-4.1/WebKit" in exe) and \
                        wanted in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                    pids.append((int(pid), Path(exe).name))
            except OSError:
                continue
        return pids

    def pss(self):
        """PSS in MiB of the app and its WebKit processes, each by name, and in all."""
        parts = {}
        for pid, name in self.app_pids():
            try:
                kib = next(int(line.split()[1]) for line in open(f"/proc/{pid}/smaps_rollup") if line.startswith("Pss:"))
            except (OSError, StopIteration):
                continue
            parts[name] = parts.get(name, 0) + kib / 1024
        return sum(parts.values()), parts

    def stop(self):
        if self.session:
            try:
                self.call("DELETE", f"/session/{self.session}", timeout=20)
            except (OSError, RuntimeError):
                pass
        # SIGTERM, never SIGKILL: only then does tauri-driver stop WebKitWebDriver.
        if self.driver:
            self.driver.send_signal(signal.SIGTERM)
            self.driver.wait(timeout=20)
        self.session = None
        deadline = time.time() + 20
        while self.app_pids() and time.time() < deadline:
            time.sleep(0.1)
        for pid, name in self.app_pids():
            log(f"{name} ({pid}) still runs 20 s after its driver stopped: ending it")
            os.kill(pid, signal.SIGTERM)
        if self.bus:
            self.bus.stop()


# ---------- in the page ----------

# Shared helpers, prepended to each script: the page's wall clock, and "the next frame".
PAGE = """
const done = arguments[arguments.length - 1];
const at = () => performance.timeOrigin + performance.now();
const painted = (then) => requestAnimationFrame(() => {
  const channel = new MessageChannel();
  channel.port1.onmessage = () => then(at());
  channel.port2.postMessage(0);
});
const settled = () => new Promise((ok) => {
  const check = () => document.body.hasAttribute('aria-busy') ? setTimeout(check, 10) : ok();
  check();
});
"""

# When the first row is drawn (or, with nothing stored, when the window says it is ready).
FIRST_ROWS = PAGE + """
const empty = arguments[0];
const seen = () => empty ? document.body.dataset.ready === 'true' : !!document.querySelector('#rows .file-row');
const marks = { origin: performance.timeOrigin, already: seen() };
const finish = () => {
  marks.dom = at();
  painted((t) => {
    marks.frame = t;
    const ready = () => document.body.dataset.ready === 'true' ? (marks.ready = at(), done(marks)) : setTimeout(ready, 5);
    ready();
  });
};
if (marks.already) finish();
else new MutationObserver((_, watch) => { if (seen()) { watch.disconnect(); finish(); } })
  .observe(document, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-ready'] });
"""

# One action on the list, timed: `act` runs, then the frame after `#rows` (or the details) changed.
TIMED = PAGE + """
const [action, value] = arguments;
const rows = document.getElementById('rows');
settled().then(() => {
  const marks = {};
  let t0;
  const watch = new MutationObserver(() => {
    watch.disconnect();
    marks.dom = at() - t0;
    painted((t) => {
      marks.frame = t - t0;
      marks.rows = rows.querySelectorAll('.file-row').length;
      if (action !== 'select') return done(marks);
      // The details: the file's name shown and every command they sent answered.
      const name = document.getElementById('d-name');
      const shown = () => name.textContent === marks.name && !document.body.hasAttribute('aria-busy');
      const wait = () => shown() ? painted((t) => { marks.details = t - t0; done(marks); }) : setTimeout(wait, 1);
      wait();
    });
  });
  watch.observe(rows, { childList: true });
  t0 = at();
  if (action === 'filter') {
    const input = document.getElementById('filter');
    input.value = value;
    input.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: 'insertText', data: value }));
  } else if (action === 'sort') {
    document.querySelector(`.table-head .sort[data-sort="${value}"]`).click();
  } else {
    const row = rows.querySelectorAll('.file-row')[value];
    marks.name = row.getAttribute('aria-label');
    row.click();
  }
});
"""

# Where the time of a start goes: the list command alone, and sorting its answer by name.
STEPS = PAGE + """
(async () => {
  const t0 = performance.now();
  // The rows as they cross from the app (the wire's size), then as the page's objects.
  const rows = await window.__TAURI__.core.invoke('list_files');
  const files = rows.map(fileRow);
  const t1 = performance.now();
  const byName = new Intl.Collator(['en'], { sensitivity: 'base', numeric: true });
  [...files].sort((a, b) => byName.compare(a.name, b.name));
  const t2 = performance.now();
  [...files].sort((a, b) => a.size - b.size);
  const t3 = performance.now();
  done({ list_files: t1 - t0, sort_name: t2 - t1, sort_size: t3 - t2, count: files.length,
         json_bytes: JSON.stringify(rows).length });
})();
"""

# Watches a drop: when the progress panel shows, when it first says a file's progress, when it
# hides, and when the sidebar counts `target` files.
WATCH_DROP = PAGE + """
const target = String(arguments[0]);
const marks = window.benchDrop = { updates: 0 };
const panel = document.getElementById('progress-panel');
const text = document.getElementById('progress-text');
const count = document.getElementById('files-count');
let last = '';
new MutationObserver(() => {
  if (!panel.hidden && !marks.shown) marks.shown = at();
  if (text.textContent && text.textContent !== last) {
    last = text.textContent; marks.updates++;
    if (!marks.progress) { marks.progress = at(); marks.first_text = last; }
  }
  if (marks.shown && panel.hidden && !marks.hidden) marks.hidden = at();
  if (count.textContent === target && !marks.counted) marks.counted = at();
}).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
done(true);
"""


# ---------- the store ----------

def sl(data, *argv):
    subprocess.run([CLI, "--data-dir", data, "--json", *map(str, argv)], check=True, stdout=subprocess.DEVNULL)


def db_count(data):
    db = sqlite3.connect(f"file:{data}/sharelock.db?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT count(*) FROM files").fetchone()[0]
    finally:
        db.close()


def write_files(folder, count, prefix):
    """`count` small files of varied sizes and contents, named `{prefix}{i:06d}.txt`."""
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"{prefix}{i:06d}.txt").write_bytes(f"{prefix} {i}\n".encode() * (1 + i * 7919 % 300))


def big_store(work):
    data = OPTS.store or work / "big"
    if OPTS.store and (data / "sharelock.db").exists() and db_count(data) == OPTS.files:
        log(f"reusing the store of {OPTS.files:,} files in {data}")
        return data
    if OPTS.store and data.exists() and any(data.iterdir()):
        raise SystemExit(f"{data} is not a store of {OPTS.files:,} files: remove it, or name another")
    sources = work / "sources"
    log(f"writing {OPTS.files:,} files")
    write_files(sources, OPTS.files, "f")
    names = sorted(os.listdir(sources))
    started = time.perf_counter()
    for at in range(0, len(names), 5000):
        sl(data, "add", *[sources / n for n in names[at:at + 5000]])
    log(f"added {OPTS.files:,} files with `sharelock add` in {time.perf_counter() - started:.1f} s (5,000 a call)")
    # The sources stay until the end of the run (see NO_REMOVALS).
    return data


# ---------- the drop ----------

def drop_folder(folder, env, x=500, y=400):
    """Drags `folder` from a drag source window (bottom right) onto the screen at (x, y), moving
    the real pointer with xdotool; returns the wall-clock ms of the button's release."""
    source = subprocess.Popen(["/usr/bin/python3", DRAG_SOURCE, folder], stdout=subprocess.PIPE, text=True, env=env)

    def expect(word):
        ready, _, _ = select.select([source.stdout], [], [], 30)
        line = source.stdout.readline().strip() if ready else None
        if line != word:
            source.kill()
            raise SystemExit(f"the drag source said {line!r}, not {word!r}")

    def xdotool(*argv):
        subprocess.run(["xdotool", *map(str, argv)], check=True, env=env)

    expect("ready")
    xdotool("mousemove", 1195, 740, "mousedown", 1)
    for step in range(1, 11):
        xdotool("mousemove", 1195 + (x - 1195) * step // 10, 740 + (y - 740) * step // 10)
        time.sleep(0.06)
    time.sleep(0.3)
    released = time.time() * 1000
    xdotool("mouseup", 1)
    expect("dropped")
    source.wait(timeout=10)
    return released


# NO_REMOVALS: nothing the run writes is removed before its end. On ext4 without a journal (these
# machines' disks) a new inode is not taken from those freed in the last minutes
# (`recently_deleted` in the kernel's allocator), which it reads the inode table to find out:
# an `add` right after the run removed 100,000 sources took 460-870 ms where the same add took
# 160 at the start, and the profile had the allocator at a fifth of its samples.


def cli_add_ms(data, folder):
    """Milliseconds of `sharelock add` of `folder` into the data dir `data`."""
    started = time.perf_counter()
    sl(data, "add", folder)
    return (time.perf_counter() - started) * 1000


def measure_drop(window, folder, env):
    """The drop of `folder` on the window, timed from the button's release."""
    before = db_count(window.data)
    target = before + 1000
    window.run(WATCH_DROP, target)
    perf = None
    if OPTS.profile:
        OPTS.profile.mkdir(parents=True, exist_ok=True)
        app = next(pid for pid, name in window.app_pids() if name == APP.name)
        perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "-p", str(app),
                                 "-o", OPTS.profile / f"perf-drop-onto-{before}.data"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    released = drop_folder(folder, env)
    deadline = time.time() + PATIENCE * 3
    db_at = None
    # Only the database is read until the files are in: a WebDriver script each few ms keeps
    # the app's main thread and WebKit busy on two cores and slows the drop it measures. The
    # page stamps its own marks when they happen, so reading them later loses nothing.
    while time.time() < deadline and db_at is None:
        if db_count(window.data) >= target:
            db_at = time.time() * 1000
        else:
            time.sleep(0.01)
    while time.time() < deadline:
        marks = window.run(PAGE + "done(window.benchDrop)")
        if db_at and marks.get("counted") and marks.get("hidden"):
            break
        time.sleep(0.1)
    else:
        raise SystemExit(f"the drop did not finish: {marks if db_at else 'not all files in the database'}")
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=30)
    rel = {k: v - released for k, v in marks.items() if k in ("shown", "progress", "hidden", "counted")}
    all_in = max(db_at - released, rel["counted"])
    log(f"drop onto {before:,}: progress {'shown' if 'progress' in rel else 'NOT shown'} ({marks['updates']} updates, "
        f"first {marks.get('first_text')!r}); {rel}; in the database {db_at - released:.0f} ms")
    return {"before": before, "db": db_at - released, **rel, "updates": marks["updates"],
            "first_text": marks.get("first_text"), "all_in": all_in}


# ---------- the run ----------

def launch(data, env, empty, work):
    window = Window(data, env, work)
    # The session can begin while the window still shows its first blank document: a script run
    # then loses its page when the app's own loads, and WebKitWebDriver drops the connection. The
    # times are read on the page's clock from the launch on, so waiting here changes none of them.
    deadline = time.time() + PATIENCE
    while not str(window.call("GET", f"/session/{window.session}/url")).startswith("tauri://"):
        if time.time() > deadline:
            raise RuntimeError("the app's page never loaded")
        time.sleep(0.02)
    marks = window.run(FIRST_ROWS, empty)
    first = {"rows": marks["frame"] - window.launched, "page_origin": marks["origin"] - window.launched,
             "ready": marks["ready"] - window.launched, "already": marks["already"]}
    what = "ready (nothing to list)" if empty else "first rows drawn"
    log(f"launch: {what} at {first['rows']:.0f} ms (page began {first['page_origin']:.0f} ms, "
        f"ready {first['ready']:.0f} ms{', ALREADY THERE at the first look' if marks['already'] else ''})")
    time.sleep(SETTLE)
    total, parts = window.pss()
    log(f"PSS {total:.0f} MiB: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(parts.items())))
    first["pss"], first["parts"] = total, parts
    return window, first


def interactions(window):
    out = {}
    log("where a start's time goes")
    # Sorting 100,000 names in the page blocks it long enough that WebKitWebDriver has been seen
    # to drop the session here; bench/run, which wants the rows, leaves it out.
    out["steps"] = [] if OPTS.no_steps else [window.run(STEPS) for _ in range(3)]
    for s in out["steps"]:
        log(f"  {json.dumps({k: round(v, 1) for k, v in s.items()})}")
    window.run(PAGE + "document.getElementById('rows').scrollTop = 0; settled().then(() => done(true));")
    cases = [("filter", "12345", "filter to 1 file"), ("filter", "", "clear the filter"),
             ("filter", "9", "filter to the names with a 9")]
    for action, value, label in cases:
        out[label] = []
    for _ in range(OPTS.runs):
        for action, value, label in cases:
            out[label].append(window.run(TIMED, action, value))
            time.sleep(0.2)
    window.run(TIMED, "filter", "")
    for key in ["name", "size", "created_at", "downloads"]:
        label = f"sort by {key}"
        out[label] = []
        for _ in range(OPTS.runs):
            out[label].append(window.run(TIMED, "sort", key))
            time.sleep(0.2)
    out["select a row"] = []
    for i in range(OPTS.runs):
        out["select a row"].append(window.run(TIMED, "select", 2 + i % 5))
        time.sleep(0.3)
    for label, marks in out.items():
        if label == "steps":
            continue
        line = f"{label}: frame after the change, median {median([m['frame'] for m in marks]):.1f} ms ({runs(m['frame'] for m in marks)})"
        if label.startswith("select"):
            line += f"; details shown {median([m['details'] for m in marks]):.1f} ms ({runs(m['details'] for m in marks)})"
        log(line + f"; rows drawn {marks[-1]['rows']}")
    return out


def main():
    for tool in ["Xvfb", "dbus-daemon", "tauri-driver", "WebKitWebDriver", "xdotool"]:
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing (./dev test installs them; tauri-driver: "
                             "cargo install tauri-driver --locked --version '^2')")
    for binary in [APP, CLI]:
        if not binary.is_file():
            raise SystemExit(f"{binary} is missing: cargo build --release -p sharelock-desktop -p sharelock")
    log(f"load average at start: {os.getloadavg()}")
    work = Path(tempfile.mkdtemp(prefix="sharelock-desktop-bench-", dir=os.environ.get("TMPDIR", "/tmp")))
    display, window = Display(), None
    env = {**os.environ, "DISPLAY": display.name}
    env.pop("SHARELOCK_PORT", None)
    results = {"files": OPTS.files, "load_start": os.getloadavg()}
    try:
        big = big_store(work)
        drop_src = work / "drop" / "Holiday"
        write_files(drop_src, 1000, "d")
        cli = [cli_add_ms(Path(tempfile.mkdtemp(prefix="cli-add-", dir=work)) / "data", drop_src) for _ in range(3)]
        cli_ms = median(cli)
        log(f"CLI: sharelock add of the 1,000-file folder into a fresh data dir: {runs(cli)} ms, median {cli_ms:.0f}")
        results["cli_add_ms"] = cli

        for name, data, empty in [("empty", work / "empty", True), ("big", big, False)]:
            starts = []
            for n in range(OPTS.launches):
                window, first = launch(data, env, empty, work)
                starts.append(first)
                if n + 1 < OPTS.launches:
                    window.stop()
                    window = None
            results[name] = {"starts": starts}
            if not empty:
                results[name].update(interactions(window))
            # The drop goes last: it changes the store.
            drop = results[name]["drop"] = measure_drop(window, drop_src, env)
            window.stop()
            window = None
            # The reference: `sharelock add` of the same folder into the same data dir, twice, with
            # the app closed (its refresh would take the CPU from the CLI). The same store and the
            # same moment: what an add costs here moves with the store's size (ext4 without a
            # journal writes a new file's folder at each fsync) and with what the disk did just
            # before, so a fresh data dir minutes earlier is no reference.
            drop["cli_same_store"] = [cli_add_ms(data, drop_src) for _ in range(2)]
            log(f"  the drop onto {drop['before']:,}: {drop['all_in'] / median(drop['cli_same_store']):.2f}x "
                f"the CLI's {runs(drop['cli_same_store'])} ms into the same data dir after it")
            if OPTS.store and not empty:
                # A kept store goes back to its N files: the dropped ones are removed again.
                db = sqlite3.connect(f"file:{data}/sharelock.db?mode=ro", uri=True)
                dropped = [r[0] for r in db.execute("SELECT id FROM files WHERE name LIKE 'd%'")]
                db.close()
                for file_id in dropped:
                    sl(data, "rm", file_id)

        e, b = results["empty"], results["big"]
        pe, pb = median([s["pss"] for s in e["starts"]]), median([s["pss"] for s in b["starts"]])
        log(f"SUMMARY ({OPTS.files:,} files, release build)")
        log(f"  first rows drawn after launch: median {median([s['rows'] for s in b['starts']]):.0f} ms "
            f"({runs(s['rows'] for s in b['starts'])}); empty store ready {median([s['rows'] for s in e['starts']]):.0f} ms")
        log(f"  PSS: {pb:.0f} MiB against {pe:.0f} MiB empty, {pb / pe:.2f}x")
        log(f"  drop of 1,000 files: {b['drop']['all_in']:.0f} ms onto {OPTS.files:,} files, "
            f"{e['drop']['all_in']:.0f} ms onto none; CLI {cli_ms:.0f} ms into a fresh data dir at the start, "
            f"{median(b['drop']['cli_same_store']):.0f} and {median(e['drop']['cli_same_store']):.0f} ms "
            "into the same data dirs after the drops")
        results["load_end"] = os.getloadavg()
        log(f"load average at the end: {results['load_end']}")
        print(json.dumps(results, indent=1))
    finally:
        if window:
            window.stop()
        display.stop()
        if OPTS.store:
            shutil.rmtree(work / "sources", ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
