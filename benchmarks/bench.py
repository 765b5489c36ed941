"""Benchmark: how Credit Lens scales with the size of the organization.

``python benchmarks/bench.py [--sizes 1000,10000,50000] [--days 365] [--runs 3] [--quick] [--out FILE]``
(``make bench``) writes its section of a markdown page (``docs/performance.md`` by default, between
``<!-- begin: bench -->`` and ``<!-- end: bench -->``; the rest of the page is left as it is) and
prints it. What the numbers mean and what profiling found is written in that page, not here.

For each size it generates a synthetic org with a year of daily usage and measures, as medians
over ``--runs``:

- **the real client against the HTTPS emulator**, each in its own process: the emulator runs as
  ``python -m creditlens.fake.emulator`` (its ready file gives the URL and accounts) and every
  client run is a fresh ``python benchmarks/bench.py _child`` that signs in with ``arcgis`` and
  calls :func:`creditlens.fetching.fetch_usage`, so its peak RSS (``VmHWM``) is the client's alone.
  Requests are counted by the emulator (``GET /__emulator__/requests``).
- **in process**: the server's reply build and JSON encoding per window, and parse-and-tidy
  throughput: decoded JSON in memory → :func:`~creditlens.usage_parsing.parse_usage_reply`,
  excluding JSON decoding, against a per-point Python loop (the pattern of ``arcgis``'s
  ``credit()``) on the same decoded replies; then the report functions on the year's frame.
- **one request per member** (the ``username`` filter), for a sample of members, extrapolated.
- **the app**: a warm leaderboard rerun in ``streamlit.testing`` (``AppTest``) with the demo org
  at this size, and, once, the cold start of ``streamlit run app.py`` to the first chart in
  headless Chromium.

``--quick`` is a smoke run (200 members, 120 days, one run, no browser) written to a temporary
file unless ``--out`` is given. Nothing here asserts timings; ``tests/test_bench.py`` only
checks that a report comes out.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import gc
import json
import math
import os
import platform
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perf_page import write_section

ROOT = Path(__file__).resolve().parents[1]
SECTION = "bench"  # this script's section of docs/performance.md
MB = 1024 * 1024
DEFAULT_SIZES = (1_000, 10_000, 50_000)
DEFAULT_DAYS = 365
DEFAULT_RUNS = 3
DEFAULT_SEED = 7
DEFAULT_OUT = ROOT / "docs" / "performance.md"
QUICK_MEMBERS, QUICK_DAYS = 200, 120
#: Members sampled for the one-request-per-member baseline (all of them when the org is smaller).
PER_MEMBER_SAMPLE, QUICK_PER_MEMBER_SAMPLE = 100, 20
#: The per-point loop runs on the first windows until it has seen this many points.
LOOP_POINTS = 1_500_000
GROUPBY = "username,userorgid,stype,etype"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CHART_SELECTOR = '[data-testid="stVegaLiteChart"], .vega-embed canvas, .vega-embed svg'
CHILD_TIMEOUT_S = 3600

# Targets on a 2-core machine (medians).
TARGET_PARSE_PTS_S = 2_000_000
TARGET_LOOP_RATIO = 10.0
TARGET_RSS_MB = 600
TARGET_RSS_MEMBERS = 10_000
TARGET_WARM_S = 0.5
TARGET_COLD_S = 6.0


# -- the report --------------------------------------------------------------------------------------
@dataclass
class SizeResult:
    members: int
    days: int
    windows: int
    points: int = 0
    rows: int = 0  # tidy rows for the whole range
    generation_s: float = math.nan  # building the org in process
    emulator_start_s: float = math.nan  # emulator subprocess: start to listening (includes generation)
    reply_build_s: float = math.nan  # server: all windows' replies, Python objects
    reply_encode_s: float = math.nan  # server: all windows' json.dumps
    reply_mb: float = math.nan  # all windows' JSON
    decode_s: float = math.nan  # client-side json.loads of all windows (collector paused)
    requests: list[int] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    rss_login_mb: list[float] = field(default_factory=list)
    parse_pts_s: list[float] = field(default_factory=list)
    loop_ratio: list[float] = field(default_factory=list)
    loop_pts_s: list[float] = field(default_factory=list)
    loop_windows: int = 0
    leaderboard_s: list[float] = field(default_factory=list)
    reconcile_s: list[float] = field(default_factory=list)
    service_trend_s: list[float] = field(default_factory=list)
    user_trend_s: list[float] = field(default_factory=list)
    per_member: dict = field(default_factory=dict)
    app: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def expected_requests(self) -> int:
        return math.ceil(self.days / 60)


@dataclass
class Report:
    sizes: list[SizeResult]
    runs: int
    days: int
    seed: int
    end_day: dt.date
    quick: bool
    started: dt.datetime
    duration_s: float = math.nan
    browser: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def median(values: list[float]) -> float:
    clean = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(clean) if clean else math.nan


# -- command line -------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/bench.py",
        description="Measure fetch, parse, reports and app speed for synthetic orgs of several sizes.",
    )
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="comma-separated member counts (default 1000,10000,50000)",
    )
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="days of daily usage (default 365)")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="runs per measurement; medians (default 3)")
    parser.add_argument(
        "--large-runs",
        type=int,
        default=None,
        help="runs for sizes of 50,000 members or more (default: --runs)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="org seed (default 7)")
    parser.add_argument(
        "--end-day", type=dt.date.fromisoformat, default=None, help="last day with usage (default today, UTC)"
    )
    parser.add_argument(
        "--per-member-sample",
        type=int,
        default=None,
        help=f"members timed for the one-request-per-member baseline (default {PER_MEMBER_SAMPLE})",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 members, 120 days, 1 run, no browser")
    parser.add_argument("--out", type=Path, default=None, help="markdown report (default docs/performance.md)")
    parser.add_argument("--no-app", action="store_true", help="skip the AppTest warm rerun")
    parser.add_argument("--no-browser", action="store_true", help="skip the headless-Chromium cold start")
    parser.add_argument("--browser", action="store_true", help="measure the browser cold start even with --quick")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        return _child_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.quick:
        sizes = [QUICK_MEMBERS] if args.sizes == build_parser().get_default("sizes") else _sizes(args.sizes)
        days = QUICK_DAYS if args.days == DEFAULT_DAYS else args.days
        runs = 1 if args.runs == DEFAULT_RUNS else args.runs
        sample = args.per_member_sample or QUICK_PER_MEMBER_SAMPLE
        out = args.out or Path(tempfile.mkdtemp(prefix="creditlens-bench-")) / "performance.md"
        browser = args.browser
    else:
        sizes, days, runs = _sizes(args.sizes), args.days, args.runs
        sample = args.per_member_sample or PER_MEMBER_SAMPLE
        out = args.out or DEFAULT_OUT
        browser = not args.no_browser
    if days < 1 or runs < 1 or not sizes:
        raise SystemExit("days, runs and sizes must be positive")
    end_day = args.end_day or dt.datetime.now(dt.UTC).date()
    report = run(
        sizes,
        days,
        runs,
        seed=args.seed,
        end_day=end_day,
        sample=sample,
        app=not args.no_app,
        browser=browser,
        quick=args.quick,
        large_runs=args.large_runs,
    )
    text = render(report)
    write_section(out, SECTION, text)
    print(text)
    print(f"Written to {out}", file=sys.stderr)
    return 0


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "")) for s in text.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"--sizes must be comma-separated numbers, not {text!r}") from None
    if any(s < 5 for s in sizes):
        raise SystemExit("an org needs at least 5 members")
    return sizes


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the whole run ---------------------------------------------------------------------------------------
def run(
    sizes: list[int],
    days: int,
    runs: int,
    *,
    seed: int = DEFAULT_SEED,
    end_day: dt.date,
    sample: int = PER_MEMBER_SAMPLE,
    app: bool = True,
    browser: bool = True,
    quick: bool = False,
    large_runs: int | None = None,
) -> Report:
    started = time.perf_counter()
    report = Report([], runs, days, seed, end_day, quick, dt.datetime.now(dt.UTC))
    app_path = find_app()
    for members in sizes:
        size_runs = large_runs if large_runs and members >= 50_000 else runs
        result = SizeResult(members, days, math.ceil(days / 60))
        if size_runs != runs:
            result.notes.append(f"{size_runs} run(s) at this size instead of {runs}, to keep the run short.")
        report.sizes.append(result)
        _log(f"{members} members × {days} days: in process")
        names = _measure_in_process(result, seed, end_day, size_runs, sample)
        with emulator_process(members, days, seed, end_day) as emu:
            result.emulator_start_s = emu.start_s
            for i in range(size_runs):
                _log(f"{members} members: client run {i + 1} of {size_runs}")
                got = run_child("fetch", {**emu.login, "start": emu.first_day, "end": end_day.isoformat()})
                result.wall_s.append(got["wall_s"])
                result.rss_mb.append(got["peak_rss_mb"])
                result.rss_login_mb.append(got["login_rss_mb"])
                result.requests.append(got["usage_requests"])
                if got["rows"] != result.rows:
                    result.notes.append(f"client run {i + 1} got {got['rows']} rows, in process {result.rows}.")
            _log(f"{members} members: one request per member (sample)")
            got = run_child(
                "per_member",
                {**emu.login, "start": emu.first_day, "end": end_day.isoformat(), "usernames": names},
            )
            got["members"] = members
            result.per_member = got
        if app and app_path is not None:
            _log(f"{members} members: app warm leaderboard rerun")
            try:
                result.app = run_child(
                    "app", {"app": str(app_path), "members": members, "days": days, "seed": seed, "runs": size_runs}
                )
            except ChildFailed as exc:
                result.app = {"error": str(exc)}
        elif app:
            result.app = {"error": "app.py not found: not measured"}
    if browser:
        _log("cold start to first chart in headless Chromium")
        report.browser = cold_start(app_path, runs)
    elif quick:
        report.browser = {"skipped": "not measured in --quick (use --browser)"}
    else:
        report.browser = {"skipped": "not measured (--no-browser)"}
    report.duration_s = time.perf_counter() - started
    return report


def find_app() -> Path | None:
    for candidate in (Path.cwd() / "app.py", ROOT / "app.py"):
        if candidate.is_file():
            return candidate
    return None


# -- in process ----------------------------------------------------------------------------------------------
def _spec(members: int, days: int, seed: int, end_day: dt.date):
    from creditlens.fake.demo_org import OrgSpec

    # The emulator's command line builds exactly this spec (name and url key left at their defaults).
    return OrgSpec(members=members, days=days, seed=seed, end_day=end_day)


def _measure_in_process(result: SizeResult, seed: int, end_day: dt.date, runs: int, sample: int) -> list[str]:
    """Server reply build and encode, parse throughput against the loop, and reports; returns the
    usernames sampled for the one-request-per-member baseline."""
    from creditlens import gcpause, reports
    from creditlens.fake import portal_api
    from creditlens.fake.demo_org import build_demo_org
    from creditlens.fetching import members_frame, usage_params
    from creditlens.usage_parsing import concat_usage, parse_usage_reply
    from creditlens.windows import split_windows

    started = time.perf_counter()
    org = build_demo_org(_spec(result.members, result.days, seed, end_day))
    result.generation_s = time.perf_counter() - started
    windows = split_windows(org.first_day, org.last_day)
    texts, points = [], []
    build_s = encode_s = 0.0
    for window in windows:
        started = time.perf_counter()
        reply = portal_api.usage_reply(org, usage_params(window, GROUPBY))
        build_s += time.perf_counter() - started
        points.append(len(reply["data"]) * len(_buckets(reply)))
        started = time.perf_counter()
        texts.append(json.dumps(reply, separators=(",", ":"), ensure_ascii=False))  # as the emulator sends it
        encode_s += time.perf_counter() - started
        del reply
    result.reply_build_s, result.reply_encode_s = build_s, encode_s
    result.reply_mb = sum(len(t) for t in texts) / MB
    result.points = sum(points)
    loop_windows = _loop_windows(points)
    result.loop_windows = loop_windows
    members = members_frame(org.members, {r["id"]: r["name"] for r in org.roles})
    org_id = org.org_id
    for _ in range(runs):
        frames, parse_s, decode_s = [], [], 0.0
        fast_s = loop_s = 0.0
        for i, (window, text) in enumerate(zip(windows, texts, strict=True)):
            started = time.perf_counter()
            with gcpause.paused():
                payload = json.loads(text)
            decode_s += time.perf_counter() - started
            # As after arcgis hands over a reply in an ordinary process: the decoded objects have
            # survived a collection and sit in the old generation.
            gc.collect()
            started = time.perf_counter()
            frame = parse_usage_reply(payload, window)
            parse_s.append(time.perf_counter() - started)
            if i < loop_windows:
                fast_s += parse_s[-1]
                started = time.perf_counter()
                naive = loop_parse(payload, window)
                loop_s += time.perf_counter() - started
                _check_same_totals(frame, naive, window)
                del naive
            frames.append(frame)
            del payload
            gc.collect()
        result.decode_s = decode_s
        loop_points = sum(points[:loop_windows])
        result.parse_pts_s.append(result.points / sum(parse_s))
        result.loop_pts_s.append(loop_points / loop_s)
        result.loop_ratio.append(loop_s / fast_s)
        usage = concat_usage(frames)
        result.rows = len(usage)
        granularity = reports.choose_granularity(org.first_day, org.last_day)
        _timed(result.leaderboard_s, reports.leaderboard, usage, members, org_id)
        _timed(result.reconcile_s, reports.reconcile_members, usage, members, org_id)
        _timed(result.service_trend_s, reports.service_trend, usage, granularity)
        _timed(result.user_trend_s, reports.user_trend, usage, granularity)
        del frames, usage
    names = [m["username"] for m in org.members]
    del texts, org
    gc.collect()
    step = max(1, len(names) // max(1, sample))
    return names[::step][:sample]  # evenly spaced members: busy, idle and admin alike


def _timed(times: list[float], function: Callable, *args: Any) -> Any:
    started = time.perf_counter()
    out = function(*args)
    times.append(time.perf_counter() - started)
    return out


def _buckets(reply: dict) -> list:
    data = reply.get("data") or []
    return (data[0].get("credits") or data[0].get("num") or []) if data else []


def _loop_windows(points: list[int]) -> int:
    """How many leading windows the per-point loop parses: at least one, about ``LOOP_POINTS`` points."""
    total = 0
    for i, p in enumerate(points):
        total += p
        if total >= LOOP_POINTS:
            return i + 1
    return len(points)


def loop_parse(payload: dict, window) -> Any:
    """The baseline: a Python tuple per point, then a DataFrame (the pattern of ``arcgis``'s ``credit()``)."""
    import pandas as pd

    from creditlens.windows import DAY_MS

    records = []
    append = records.append
    for row in payload["data"]:
        keys = tuple(str(row.get(k) or "").strip() for k in ("username", "userOrgId", "stype", "etype"))
        counts = row.get("num") or []
        for (stamp, credit), (_, count) in zip(row.get("credits") or [], counts, strict=False):
            append((int(stamp), *keys, float(credit), int(count)))
    frame = pd.DataFrame.from_records(
        records, columns=["time", "username", "user_org_id", "stype", "etype", "credits", "num"]
    )
    day = frame.pop("time") // DAY_MS
    frame.insert(0, "day", pd.to_datetime(day * DAY_MS, unit="ms"))
    inside = (day >= window.first_day_number) & (day <= window.last_day_number)
    return frame[inside & ((frame["credits"] != 0) | (frame["num"] != 0))].reset_index(drop=True)


def _check_same_totals(fast, naive, window) -> None:
    if len(fast) != len(naive) or not math.isclose(fast["credits"].sum(), naive["credits"].sum(), rel_tol=1e-9):
        raise AssertionError(f"the fast parser and the per-point loop disagree on {window.label()}")
    if int(fast["num"].sum()) != int(naive["num"].sum()):
        raise AssertionError(f"the fast parser and the per-point loop disagree on counts in {window.label()}")


# -- the emulator subprocess ---------------------------------------------------------------------------
@dataclass
class EmulatorProcess:
    url: str
    ca_bundle: str
    username: str
    password: str
    first_day: str
    start_s: float

    @property
    def login(self) -> dict:
        return {"url": self.url, "ca_bundle": self.ca_bundle, "username": self.username, "password": self.password}


@contextlib.contextmanager
def emulator_process(members: int, days: int, seed: int, end_day: dt.date) -> Iterator[EmulatorProcess]:
    """``python -m creditlens.fake.emulator`` for this org, in its own process; stopped on exit."""
    work = Path(tempfile.mkdtemp(prefix="creditlens-bench-emu-"))
    ready = work / "ready.json"
    command = [
        sys.executable,
        "-m",
        "creditlens.fake.emulator",
        "--members",
        str(members),
        "--days",
        str(days),
        "--seed",
        str(seed),
        "--end-day",
        end_day.isoformat(),
        "--port",
        "0",
        "--cert-dir",
        str(work / "certs"),
        "--ready-file",
        str(ready),
    ]
    started = time.perf_counter()
    with (work / "emulator.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=_child_env())
        try:
            info = _wait_for_ready_file(process, ready, work / "emulator.log")
            start_s = time.perf_counter() - started
            (org,) = info["orgs"]
            admin = next(a for a in org["accounts"] if a["note"] == "administrator")
            yield EmulatorProcess(
                info["url"], info["ca_bundle"], admin["username"], admin["password"], org["firstDay"], start_s
            )
        finally:
            _stop(process)
            shutil.rmtree(work, ignore_errors=True)


def _wait_for_ready_file(process: subprocess.Popen, ready: Path, log: Path) -> dict:
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"the emulator exited before it listened: {detail}")
        with contextlib.suppress(OSError, ValueError):
            return json.loads(ready.read_text())
        time.sleep(0.05)
    raise TimeoutError(f"the emulator wrote no ready file within {CHILD_TIMEOUT_S} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITLENS_")}
    return {**env, "PYTHONUNBUFFERED": "1"}


# -- child processes --------------------------------------------------------------------------------------
class ChildFailed(RuntimeError):
    pass


def run_child(mode: str, spec: dict, timeout: float = CHILD_TIMEOUT_S) -> dict:
    """Run ``python benchmarks/bench.py _child <mode>`` with ``spec``; its last stdout line is the result."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    try:
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "_child", mode, handle.name],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_child_env(),
            cwd=Path.cwd(),
        )
    finally:
        os.unlink(handle.name)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise ChildFailed(f"{mode} child failed ({done.returncode}): {done.stderr[-3000:]}")
    return json.loads(lines[-1])


def _child_main(argv: list[str]) -> int:
    mode, path = argv
    spec = json.loads(Path(path).read_text())
    handler: Callable[[dict], dict] = {"fetch": _child_fetch, "per_member": _child_per_member, "app": _child_app}[mode]
    print(json.dumps(handler(spec)), flush=True)
    return 0


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (``VmHWM``), in MiB."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _control(spec: dict, method: str, action: str) -> dict:
    context = ssl.create_default_context(cafile=spec["ca_bundle"])
    request = urllib.request.Request(f"{spec['url']}/__emulator__/{action}", method=method)
    with urllib.request.urlopen(request, context=context, timeout=60) as reply:
        return json.loads(reply.read())


def _usage_requests(spec: dict) -> list[dict]:
    return [r for r in _control(spec, "GET", "requests")["requests"] if r["path"].endswith("/usage")]


def _child_fetch(spec: dict) -> dict:
    """Sign in and fetch the whole range once, as the app does; peak RSS is this process's."""
    from creditlens.fetching import fetch_usage
    from creditlens.portal import connect

    conn = connect(spec["url"], spec["username"], spec["password"], ca_bundle=spec["ca_bundle"])
    gc.collect()
    login_rss = peak_rss_mb()
    _control(spec, "DELETE", "requests")
    started = time.perf_counter()
    result = fetch_usage(conn, dt.date.fromisoformat(spec["start"]), dt.date.fromisoformat(spec["end"]))
    wall = time.perf_counter() - started
    peak = peak_rss_mb()
    if not result.complete:
        raise RuntimeError(result.warning())
    return {
        "wall_s": wall,
        "peak_rss_mb": peak,
        "login_rss_mb": login_rss,
        "usage_requests": len(_usage_requests(spec)),
        "rows": len(result.frame),
        "credits": float(result.frame["credits"].sum()),
    }


def _child_per_member(spec: dict) -> dict:
    """The naive alternative: one usage request per member and window (``username=<name>``)."""
    from creditlens.fetching import usage_params
    from creditlens.portal import connect, usage_path
    from creditlens.usage_parsing import concat_usage, parse_usage_reply
    from creditlens.windows import split_windows

    conn = connect(spec["url"], spec["username"], spec["password"], ca_bundle=spec["ca_bundle"])
    windows = split_windows(dt.date.fromisoformat(spec["start"]), dt.date.fromisoformat(spec["end"]))
    _control(spec, "DELETE", "requests")
    frames = []
    started = time.perf_counter()
    for name in spec["usernames"]:
        for window in windows:
            params = {**usage_params(window, GROUPBY), "username": name}
            frames.append(parse_usage_reply(conn.post(usage_path(conn), params), window))
    frame = concat_usage(frames)
    wall = time.perf_counter() - started
    return {
        "sampled": len(spec["usernames"]),
        "windows": len(windows),
        "wall_s": wall,
        "usage_requests": len(_usage_requests(spec)),
        "rows": len(frame),
    }


def _child_app(spec: dict) -> dict:
    """A warm leaderboard rerun in AppTest, with the app's demo org built at this size."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from creditlens import dates
    from creditlens.ui import connection
    from creditlens.ui.links import preset_slug

    used = []
    real_build = connection.build_demo_org

    def sized(org_spec=None):
        from creditlens.fake.demo_org import OrgSpec

        base = org_spec or OrgSpec()
        resized = dataclasses.replace(base, members=spec["members"], days=spec["days"], seed=spec["seed"])
        used.append(resized.members)
        return real_build(resized)

    connection.build_demo_org = sized
    preset = max((label for label, n in dates.PRESETS.items() if n <= spec["days"]), key=dates.PRESETS.get)
    st.cache_data.clear()
    at = AppTest.from_file(spec["app"], default_timeout=CHILD_TIMEOUT_S)
    at.query_params["range"] = preset_slug(preset)
    started = time.perf_counter()
    at.switch_page("app_pages/leaderboard.py").run()
    cold = time.perf_counter() - started
    _raise_app_errors(at)
    warm = []
    for _ in range(max(1, spec["runs"])):
        started = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - started)
        _raise_app_errors(at)
    return {
        "cold_s": cold,
        "warm_s": warm,
        "range": preset,
        "members": used[0] if used else None,
        "tables": len(at.dataframe),
    }


def _raise_app_errors(at) -> None:
    problems = [str(e.value) for e in at.exception] + [str(e.value) for e in at.error]
    if problems:
        raise RuntimeError(f"the app reported: {problems[:3]}")


# -- the browser -------------------------------------------------------------------------------------------
def cold_start(app_path: Path | None, runs: int) -> dict:
    """``streamlit run app.py`` (demo org) from process start to the first chart visible in Chromium."""
    if app_path is None:
        return {"skipped": "app.py not found: not measured"}
    if not Path(CHROMIUM).exists():
        return {"skipped": f"{CHROMIUM} not found: not measured"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed: not measured"}
    times = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(runs):
                times.append(_one_cold_start(browser, app_path))
        finally:
            browser.close()
    return {"cold_s": times}


def _one_cold_start(browser, app_path: Path) -> float:
    port = _free_port()
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(app_path),
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(port),
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=app_path.parent,
            env=_child_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for_port(port, process, timeout=120)
            page = browser.new_page()
            try:
                page.goto(f"http://127.0.0.1:{port}/", wait_until="commit", timeout=120_000)
                page.locator(CHART_SELECTOR).first.wait_for(state="visible", timeout=120_000)
                elapsed = time.perf_counter() - started
            finally:
                page.close()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
    return elapsed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("streamlit exited before it listened")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"streamlit did not listen on {port} within {timeout:.0f}s")


# -- rendering ------------------------------------------------------------------------------------------------
def _fmt(value: float, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _mpts(value: float) -> str:
    return "—" if math.isnan(value) else f"{value / 1e6:.2f}M"


def _verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**missed**")


def render(report: Report) -> str:
    sizes = report.sizes
    head = "| | " + " | ".join(f"{s.members:,} members" for s in sizes) + " | target |"
    rule = "|---|" + "---|" * len(sizes) + "---|"
    lines = [
        "## Scale: fetch, parse, reports and the app",
        "",
        "Written by `python benchmarks/bench.py` (`make bench`); rerun it to refresh this section.",
        "",
        f"- Date: {report.started:%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} cores "
        f"({platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.system()}), shared and noisy, so medians of {report.runs} run(s).",
        f"- Orgs: synthetic, seed {report.seed}, {report.days} days of daily usage ending {report.end_day}; "
        f"{math.ceil(report.days / 60)} windows of at most 60 days.",
        f"- Whole benchmark: {_fmt(report.duration_s / 60, 1)} min."
        + (" **Quick smoke run** (`--quick`): numbers are not representative." if report.quick else ""),
        "- A point is one (row, bucket) of a usage reply, with both measures (`vars=credits,num`).",
        "",
        "### Results (medians)",
        "",
        head,
        rule,
    ]

    def row(label: str, values: list[str], target: str = "") -> None:
        lines.append(f"| {label} | " + " | ".join(values) + f" | {target} |")

    row("Usage requests per fetch", [_requests(s) for s in sizes], "= ceil(days/60)")
    row("Reply size, all windows (MB of JSON)", [_fmt(s.reply_mb, 0) for s in sizes])
    row("Points in the replies", [f"{s.points:,}" for s in sizes])
    row("Tidy rows (non-zero day × user × service)", [f"{s.rows:,}" for s in sizes])
    row("**Fetch + parse + tidy, wall (s)**", [_fmt(median(s.wall_s)) for s in sizes])
    row("End-to-end points/s", [_mpts(s.points / median(s.wall_s)) for s in sizes])
    row(
        "**Client peak RSS (MB)**",
        [_fmt(median(s.rss_mb), 0) for s in sizes],
        f"≤ {TARGET_RSS_MB} at {TARGET_RSS_MEMBERS:,} members",
    )
    row("Client RSS after sign-in (MB)", [_fmt(median(s.rss_login_mb), 0) for s in sizes])
    row(
        "**Parse + tidy (points/s)**",
        [_mpts(median(s.parse_pts_s)) for s in sizes],
        f"≥ {TARGET_PARSE_PTS_S / 1e6:.0f}M",
    )
    row("Per-point loop (points/s)", [_mpts(median(s.loop_pts_s)) for s in sizes])
    row(
        "**Parse + tidy vs per-point loop**",
        [f"{_fmt(median(s.loop_ratio), 1)}×" for s in sizes],
        f"≥ {TARGET_LOOP_RATIO:.0f}×",
    )
    row("One request per member: requests", [_per_member_requests(s) for s in sizes])
    row("One request per member: time (s)", [_per_member_time(s) for s in sizes])
    row("One request per member vs ours (time)", [_per_member_ratio(s) for s in sizes])
    row("Leaderboard (s)", [_fmt(median(s.leaderboard_s), 3) for s in sizes])
    row("Reconciliation (s)", [_fmt(median(s.reconcile_s), 3) for s in sizes])
    row("Service trend (s)", [_fmt(median(s.service_trend_s), 3) for s in sizes])
    row("User trend (s)", [_fmt(median(s.user_trend_s), 3) for s in sizes])
    row("**App: warm leaderboard rerun (s)**", [_app(s, "warm") for s in sizes], f"≤ {TARGET_WARM_S}")
    row("App: first leaderboard run, cold caches (s)", [_app(s, "cold") for s in sizes])
    row("Org generation in process (s)", [_fmt(s.generation_s) for s in sizes])
    row("Emulator start incl. generation (s)", [_fmt(s.emulator_start_s) for s in sizes])
    row("Server: build replies, all windows (s)", [_fmt(s.reply_build_s) for s in sizes])
    row("Server: JSON-encode replies (s)", [_fmt(s.reply_encode_s) for s in sizes])
    row("Client: JSON-decode replies, collector paused (s)", [_fmt(s.decode_s) for s in sizes])
    lines += ["", f"**Cold demo start to first chart** (headless Chromium): {_browser(report.browser)}", ""]
    lines += _targets(report)
    lines += _how(report)
    notes = [f"{s.members:,} members: {n}" for s in sizes for n in s.notes] + report.notes
    if notes:
        lines += ["", "### Notes from this run", "", *[f"- {n}" for n in notes]]
    return "\n".join(lines)


def _requests(s: SizeResult) -> str:
    if not s.requests:
        return "—"
    got = int(median(s.requests))
    mark = "" if got == s.expected_requests and len(set(s.requests)) == 1 else " **(≠ target)**"
    return f"{got} (target {s.expected_requests}){mark}"


def _per_member_requests(s: SizeResult) -> str:
    pm = s.per_member
    if not pm:
        return "—"
    return f"{s.members * pm['windows']:,} ({pm['usage_requests']:,} timed)"


def _per_member_seconds(s: SizeResult) -> float:
    pm = s.per_member
    return pm["wall_s"] * s.members / pm["sampled"] if pm and pm.get("sampled") else math.nan


def _per_member_time(s: SizeResult) -> str:
    pm = s.per_member
    if not pm:
        return "—"
    extrapolated = pm["sampled"] < s.members
    text = _fmt(_per_member_seconds(s), 0)
    return f"{text} (extrapolated from {pm['sampled']})" if extrapolated else text


def _per_member_ratio(s: SizeResult) -> str:
    ratio = _per_member_seconds(s) / median(s.wall_s)
    return "—" if math.isnan(ratio) else f"{ratio:,.0f}× slower"


def _app(s: SizeResult, which: str) -> str:
    app = s.app
    if not app:
        return "—"
    if "error" in app:
        return "not measured"
    value = median(app["warm_s"]) if which == "warm" else app["cold_s"]
    return _fmt(value, 2)


def _browser(browser: dict) -> str:
    if "cold_s" in browser:
        value = median(browser["cold_s"])
        ok = value <= TARGET_COLD_S
        runs = ", ".join(_fmt(v) for v in browser["cold_s"])
        return f"**{_fmt(value)} s** (median of {runs}; target ≤ {TARGET_COLD_S:.0f} s: {_verdict(ok)})"
    return browser.get("skipped") or browser.get("error") or "not measured"


def _targets(report: Report) -> list[str]:
    lines = ["", "### Targets", "", "| target | measured | verdict |", "|---|---|---|"]
    for s in report.sizes:
        got = int(median(s.requests)) if s.requests else None
        lines.append(
            f"| requests = ceil({s.days}/60) = {s.expected_requests} at {s.members:,} members "
            f"| {got if got is not None else '—'} | {_verdict(None if got is None else got == s.expected_requests)} |"
        )
    for s in report.sizes:
        value = median(s.parse_pts_s)
        lines.append(
            f"| parse + tidy ≥ {TARGET_PARSE_PTS_S / 1e6:.0f}M points/s at {s.members:,} members | {_mpts(value)} "
            f"| {_verdict(None if math.isnan(value) else value >= TARGET_PARSE_PTS_S)} |"
        )
        ratio = median(s.loop_ratio)
        lines.append(
            f"| parse + tidy ≥ {TARGET_LOOP_RATIO:.0f}× the per-point loop at {s.members:,} members "
            f"| {_fmt(ratio, 1)}× | {_verdict(None if math.isnan(ratio) else ratio >= TARGET_LOOP_RATIO)} |"
        )
    for s in report.sizes:
        if s.members == TARGET_RSS_MEMBERS or (report.quick and s is report.sizes[0]):
            rss = median(s.rss_mb)
            lines.append(
                f"| client peak RSS ≤ {TARGET_RSS_MB} MB at {s.members:,} members × {s.days} days "
                f"| {_fmt(rss, 0)} MB | {_verdict(None if math.isnan(rss) else rss <= TARGET_RSS_MB)} |"
            )
    for s in report.sizes:
        if s.app and "warm_s" in s.app:
            warm = median(s.app["warm_s"])
            lines.append(
                f"| warm leaderboard rerun ≤ {TARGET_WARM_S} s at {s.members:,} members | {_fmt(warm)} s "
                f"| {_verdict(warm <= TARGET_WARM_S)} |"
            )
    if "cold_s" in report.browser:
        cold = median(report.browser["cold_s"])
        lines.append(
            f"| cold demo start to first chart ≤ {TARGET_COLD_S:.0f} s | {_fmt(cold)} s "
            f"| {_verdict(cold <= TARGET_COLD_S)} |"
        )
    return lines


def _how(report: Report) -> list[str]:
    sample = next((s.per_member["sampled"] for s in report.sizes if s.per_member), None)
    return [
        "",
        "### How it is measured",
        "",
        "- **Fetch + parse + tidy**: a fresh client process signs in with `arcgis` to the emulator running in "
        "another process (`python -m creditlens.fake.emulator`, same org spec) and calls `fetch_usage` for the whole "
        "range with its defaults. Wall time covers the emulator building and sending each reply too. Requests are "
        "the usage calls the emulator recorded (`GET /__emulator__/requests`), sign-in excluded.",
        "- **Client peak RSS**: `VmHWM` of that client process after the fetch (sign-in and imports included), so "
        "the emulator's memory is not counted.",
        "- **Parse + tidy**: in process, each window's reply is built by `portal_api`, JSON-encoded as the "
        "emulator sends it and decoded; after a `gc.collect()` (so the decoded objects are old, as after `arcgis` "
        "returns them) `parse_usage_reply` is timed, JSON decoding excluded. Points/s is all points over the sum "
        f"of those times. The per-point loop (`loop_parse` here: a tuple per point, then a DataFrame, as in "
        f"`arcgis`'s `credit()`) runs on the first windows up to {LOOP_POINTS:,} points, and the ratio compares "
        "both parsers on exactly those windows; both must give the same totals.",
        "- **One request per member**: a client process asks each sampled member's usage separately "
        f"(`username=<name>`, every window){f', {sample} members evenly spaced,' if sample else ''} and the time "
        "is scaled by members/sample (one run per size). It also misses everyone who is not a current member "
        "(former, external, public and unattributed usage).",
        "- **Reports**: `reports.leaderboard`, `reconcile_members`, `service_trend` and `user_trend` on the whole "
        "range's tidy frame (week granularity for a year) and the members frame.",
        "- **App**: `AppTest.from_file('app.py')` in a fresh process with the demo org built at the benchmark's "
        "size (the app's `build_demo_org` is wrapped to resize the spec), range preset of at most `--days`, "
        "Leaderboard page: the first `run()` fetches and fills the caches (one measurement); the warm rerun is "
        "each next `run()` (median of the runs).",
        "- **Cold start**: `streamlit run app.py --server.headless true` (demo org, default size) is started and, "
        "as soon as it listens, headless Chromium opens it; the time is from process start until the first Vega "
        "chart (`[data-testid=stVegaLiteChart]`) is visible.",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
