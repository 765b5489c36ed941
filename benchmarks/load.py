"""Load benchmark: N concurrent browser sessions open the Leaderboard of the demo org.

Starts ``streamlit run app.py`` on a free loopback port, then opens ``--sessions`` headless Chromium
sessions at once (one browser, one context each, so each has its own cookies and Streamlit session)
on ``/leaderboard``, and measures for each the time from navigation to a rendered leaderboard (the
grid drawn and the script no longer running). The server's resident memory (the ``streamlit``
process and its children) is sampled before, during and after.

    .venv/bin/python benchmarks/load.py                # 25 sessions, writes docs/performance.md
    .venv/bin/python benchmarks/load.py --sessions 10 --no-write
    .venv/bin/python benchmarks/load.py --no-write --profile /tmp/load-profile.txt   # where the time goes

It rewrites only its own section of docs/performance.md, between ``<!-- begin: load -->`` and
``<!-- end: load -->`` (appended when missing). Not part of the test run: it takes minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- begin: load -->", "<!-- end: load -->"
CHROMIUM = os.environ.get("CREDITLENS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TARGET_MEDIAN_S, TARGET_MAX_S = 5.0, 10.0

#: A rendered leaderboard: the grid is drawn in the main panel and no script run is visible.
READY_JS = """() => {
    const main = document.querySelector('[data-testid="stMain"]');
    const grid = main && main.querySelector('[data-testid="stDataFrame"] table[role="grid"]');
    const running = document.querySelector('[data-testid="stStatusWidgetRunningIcon"]');
    const stale = document.querySelector('[data-stale="true"]');
    return Boolean(grid) && !running && !stale;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants."""
    total_kb = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its descendants."""
    ticks = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds every core of the machine has spent busy since boot (``/proc/stat``; idle and I/O wait left out).

    The browsers' CPU is counted this way, as what the machine did beyond the server: Chromium's
    renderers are reparented when the browser exits, so they never reach this process's reaped
    children's times (which counted about a quarter of what the machine was busy with).
    """
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Server:
    """``streamlit run app.py`` on a free port; its log goes to a file next to the other test artifacts."""

    def __init__(self, profile: Path | None = None) -> None:
        self.profile = profile
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = ROOT / "test-artifacts" / f"load-streamlit-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 90) -> Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITLENS_")}
        self._log = self.log_path.open("wb")
        # With a profile, this script runs the server itself under a stack sampler (see serve_profiled).
        launcher = [__file__, "--serve-profiled", str(self.profile), "--"] if self.profile else ["-m", "streamlit"]
        self.process = subprocess.Popen(
            [
                sys.executable,
                *launcher,
                "run",
                str(ROOT / "app.py"),
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(self.port),
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=ROOT,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited early; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"streamlit did not become healthy in {timeout_s:.0f} s")

    def rss_mb(self) -> float:
        return tree_rss_mb(self.process.pid) if self.process else 0.0

    def cpu_s(self) -> float:
        return tree_cpu_s(self.process.pid) if self.process else 0.0

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()


@dataclass
class Sampler:
    """RSS of the server every ``interval`` seconds on a thread, while ``running``."""

    server: Server
    interval: float = 0.25
    samples: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.server.rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


async def one_session(browser, url: str, timeout_s: float) -> float | None:
    """Seconds from navigation to a rendered leaderboard, or None when it did not render in time."""
    context = await browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        page = await context.new_page()
        started = time.perf_counter()
        await page.goto(url, timeout=timeout_s * 1000)
        await page.wait_for_function(READY_JS, timeout=timeout_s * 1000, polling=100)
        return time.perf_counter() - started
    except Exception as exc:  # a timeout or a crashed page is a failed session, reported as such
        print(f"session failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}", file=sys.stderr)
        return None
    finally:
        await context.close()


async def run_sessions(url: str, sessions: int, timeout_s: float) -> list[float | None]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            return list(await asyncio.gather(*(one_session(browser, url, timeout_s) for _ in range(sessions))))
        finally:
            await browser.close()


@dataclass
class LoadResult:
    sessions: int
    times_s: list[float]
    failed: int
    rss_before_mb: float
    rss_peak_mb: float
    rss_after_mb: float
    settle_s: float
    wall_s: float
    server_cpu_s: float
    client_cpu_s: float
    cold_first_s: float | None  # one session on the freshly started server, before the burst
    load_before: float  # the machine's 1-minute load average before and after the burst
    load_after: float
    later_bursts: list[tuple[float | None, float]] = field(default_factory=list)  # (median s, RSS after MB)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s) if self.times_s else float("nan")

    @property
    def max_s(self) -> float:
        return max(self.times_s) if self.times_s else float("nan")


def measure(
    sessions: int, timeout_s: float, settle_s: float, profile: Path | None = None, bursts: int = 1
) -> LoadResult:
    server = Server(profile).start()
    try:
        # A deployment is warm when visitors arrive: one session first pays for imports and the
        # demo org's first build, then the burst is measured.
        cold_first = asyncio.run(run_sessions(f"{server.url}/leaderboard", 1, timeout_s))[0]
        if profile is not None:
            server.process.send_signal(signal.SIGUSR1)
        before = server.rss_mb()
        load_before = os.getloadavg()[0]
        started, server_cpu, machine_cpu = time.perf_counter(), server.cpu_s(), machine_busy_s()
        with Sampler(server) as sampler:
            times = asyncio.run(run_sessions(f"{server.url}/leaderboard", sessions, timeout_s))
        wall = time.perf_counter() - started
        server_cpu = server.cpu_s() - server_cpu
        # Everything else the machine did meanwhile: the browsers, Playwright's driver, this script
        # (and any other work on a shared machine, which the load average before the burst shows).
        client_cpu = max(0.0, machine_busy_s() - machine_cpu - server_cpu)
        load_after = os.getloadavg()[0]
        time.sleep(settle_s)  # closed sessions are dropped and collected; then memory is read again
        after = server.rss_mb()
        later: list[tuple[float | None, float]] = []  # (median, RSS after) of each further burst
        for _ in range(bursts - 1):
            again = [t for t in asyncio.run(run_sessions(f"{server.url}/leaderboard", sessions, timeout_s)) if t]
            time.sleep(settle_s)
            later.append((statistics.median(again) if again else None, server.rss_mb()))
        done = [t for t in times if t is not None]
        return LoadResult(
            sessions,
            done,
            len(times) - len(done),
            before,
            max(sampler.samples or [before]),
            after,
            settle_s,
            wall,
            server_cpu,
            client_cpu,
            cold_first,
            load_before,
            load_after,
            later,
        )
    finally:
        server.stop()


def _seconds(value: float | None) -> str:
    return "failed" if value is None else f"{value:.1f}"


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "**missed**"


def project_hotspots(profile: Path | None, top: int = 8) -> list[str]:
    """The project's own functions with the most inclusive time in a ``--profile`` table."""
    if profile is None or not profile.exists():
        return []
    lines = profile.read_text(encoding="utf-8").split("innermost", 1)[0].splitlines()
    own = [line.strip() for line in lines if "%" in line and ("src/creditlens/" in line or "app_pages/" in line)]
    return own[:top]


def section(result: LoadResult, profile: Path | None = None) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{os.cpu_count()} cores ({platform.machine()}, CPython {platform.python_version()})"
    times = ", ".join(f"{t:.1f}" for t in sorted(result.times_s))
    lines = [
        BEGIN,
        "## Load: concurrent sessions on the demo org",
        "",
        f"Generated by `python benchmarks/load.py` on {now}; machine: {machine}, shared with other work.",
        f"{result.sessions} headless Chromium sessions (one browser, a context each) open `/leaderboard` of the demo "
        "org at the same moment against one `streamlit run app.py`, warmed by one session first; time to a "
        "rendered leaderboard is from navigation until the grid is drawn and no script run is visible. The "
        "browser runs on the same machine as the server.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| sessions rendered / failed | {len(result.times_s)} / {result.failed} | all rendered |",
        f"| **median time to a rendered leaderboard (s)** | {result.median_s:.1f} | ≤ {TARGET_MEDIAN_S:.0f} "
        f"({verdict(result.median_s, TARGET_MEDIAN_S)}) |",
        f"| **maximum time (s)** | {result.max_s:.1f} | ≤ {TARGET_MAX_S:.0f} ({verdict(result.max_s, TARGET_MAX_S)}) |",
        f"| first session on the cold server, before the burst (s) | {_seconds(result.cold_first_s)} | |",
        f"| machine load average (1 min) before / after the burst | {result.load_before:.1f} / {result.load_after:.1f} "
        f"| ≤ {os.cpu_count()} means the cores were ours |",
        f"| server RSS before the burst, after the warm-up (MB) | {result.rss_before_mb:.0f} | |",
        f"| server RSS peak during (MB) | {result.rss_peak_mb:.0f} | |",
        f"| server RSS {result.settle_s:.0f} s after the sessions closed (MB; Streamlit drops a closed session's "
        f"state after 120 s) | {result.rss_after_mb:.0f} | |",
        *(
            f"| burst {n}: median (s) / server RSS {result.settle_s:.0f} s after it (MB) | {_seconds(median)} / "
            f"{rss:.0f} | no growth from burst to burst |"
            for n, (median, rss) in enumerate(result.later_bursts, start=2)
        ),
        f"| wall time of the whole burst (s) | {result.wall_s:.1f} | |",
        f"| server CPU during the burst (s; {os.cpu_count()} cores × wall = "
        f"{(os.cpu_count() or 1) * result.wall_s:.0f}) | {result.server_cpu_s:.1f} | |",
        f"| rest of the machine's CPU during the burst: browsers, Playwright, this script (s) | "
        f"{result.client_cpu_s:.1f} | |",
        f"| CPU per session: server / the rest (s) | {result.server_cpu_s / result.sessions:.2f} / "
        f"{result.client_cpu_s / result.sessions:.2f} | |",
        f"| least wall time this CPU allows: all of it on {os.cpu_count()} cores / the server's on one (s) | "
        f"{(result.server_cpu_s + result.client_cpu_s) / (os.cpu_count() or 1):.1f} / {result.server_cpu_s:.1f} | |",
        "",
        f"Every session's time (s): {times}.",
    ]
    hotspots = project_hotspots(profile)
    if hotspots:
        lines += ["", "Where the server's script threads spent the burst (share of samples, `--profile`):", ""]
        lines += [f"- {spot}" for spot in hotspots]
    lines += [END]
    return "\n".join(lines)


def write_section(text: str, doc: Path = DOC) -> None:
    """Replace this benchmark's section of ``doc`` (or append it), leaving the rest as it is."""
    current = doc.read_text(encoding="utf-8") if doc.exists() else "# Performance\n"
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        updated = head + text + tail
    else:
        updated = current.rstrip("\n") + "\n\n" + text + "\n"
    doc.write_text(updated, encoding="utf-8")


# -- where the server's script threads spend their time -------------------------------------------
def serve_profiled(out: Path, streamlit_args: list[str], interval_s: float = 0.005) -> int:
    """Run ``streamlit <args>`` in this process while a thread samples every script thread's stack.

    Every ``interval_s`` each ``ScriptRunner`` thread's stack is read (``sys._current_frames``); a
    function counts once per sample it is on the stack (inclusive) and when it is the innermost
    frame (self). The table is rewritten to ``out`` every 2 s, so it survives the server being
    stopped. No profiler dependency: a sampler this size beats adding one.
    """
    from collections import Counter

    inclusive: Counter[str] = Counter()
    innermost: Counter[str] = Counter()
    samples = [0]

    def name(code) -> str:
        path = Path(code.co_filename)
        if ROOT in path.parents and "site-packages" not in path.parts:
            short = str(path.relative_to(ROOT))  # the project's own code: src/creditlens/…, app_pages/…
        elif "site-packages" in path.parts:
            short = "/".join(path.parts[-2:])
        else:
            short = path.name
        return f"{short}:{code.co_name}"

    def sample() -> None:
        last_write = time.monotonic()
        while True:
            time.sleep(interval_s)
            threads = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if "ScriptRunner" not in threads.get(ident, ""):
                    continue
                samples[0] += 1
                seen: set[str] = set()
                innermost[name(frame.f_code)] += 1
                while frame is not None:
                    seen.add(name(frame.f_code))
                    frame = frame.f_back
                inclusive.update(seen)
            if time.monotonic() - last_write > 2:
                last_write = time.monotonic()
                write()

    def write() -> None:
        total = max(1, samples[0])
        lines = [f"{samples[0]} samples of script threads every {interval_s * 1000:.0f} ms", "", "inclusive:"]
        lines += [f"{100 * n / total:5.1f}%  {fn}" for fn, n in inclusive.most_common(45)]
        lines += ["", "innermost (self):"]
        lines += [f"{100 * n / total:5.1f}%  {fn}" for fn, n in innermost.most_common(25)]
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def restart(*_: object) -> None:  # the driver's SIGUSR1 after the warm-up: profile the burst alone
        inclusive.clear()
        innermost.clear()
        samples[0] = 0

    signal.signal(signal.SIGUSR1, restart)
    threading.Thread(target=sample, name="load-profiler", daemon=True).start()
    from streamlit.web.cli import main as streamlit_main

    return streamlit_main(streamlit_args, standalone_mode=False) or 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--serve-profiled"]:
        return serve_profiled(Path(argv[1]), argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=25)
    parser.add_argument("--timeout", type=float, default=180, help="seconds one session may take before it fails")
    parser.add_argument(
        "--settle",
        type=float,
        default=130,
        help="seconds before the 'after' memory reading (Streamlit drops a disconnected session after 120 s)",
    )
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing the doc")
    parser.add_argument("--bursts", type=int, default=2, help="bursts in a row, to see whether memory grows")
    parser.add_argument("--profile", type=Path, help="sample the server's script threads; write the table here")
    args = parser.parse_args(argv)
    result = measure(args.sessions, args.timeout, args.settle, args.profile, args.bursts)
    text = section(result, args.profile)
    print(text)
    if not args.no_write:
        write_section(text)
    return 0 if result.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
