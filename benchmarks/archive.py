"""Benchmark: the usage archive. First page from a warm archive, incremental sync, sync peak memory.

``python benchmarks/archive.py [--sizes 10000,50000] [--runs 3] [--out FILE] [--quick]`` rewrites
only its own section of ``docs/performance.md`` (between ``<!-- begin: archive -->`` and
``<!-- end: archive -->``) and prints it.

What it measures, each in a fresh child process (``python benchmarks/archive.py _child MODE``):

- **sync at 10,000 members** (the first size): a year synced into an empty archive through the
  real ``arcgis`` client against the HTTPS emulator, in its own process (``creditlens.fake.emulator``),
  with the child's peak RSS (``VmHWM``); then an incremental sync a minute later (within the hour:
  only today is due) and one as if a day later (the unsettled tail is due), with their usage
  requests and wall time;
- **first page for a year from the warm archive**, at each size: ``ensure`` (nothing due, so no
  request), ``read_range`` and the first page's reports (overview KPIs, service trend by week,
  leaderboard with its top 10, the add-up check), timed from a fresh process and then warm
  (median of ``--runs``). Sizes other than the first are filled in process from the demo org's
  replies (the same parser and writer, without HTTPS), which is quicker and gives the same archive.

Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import DEFAULT_SEED, _child_env, emulator_process, peak_rss_mb
from perf_page import write_section

ROOT = Path(__file__).resolve().parents[1]
SECTION = "archive"
DEFAULT_OUT = ROOT / "docs" / "performance.md"
DEFAULT_SIZES = (10_000, 50_000)
DAYS = 365
CHILD_TIMEOUT_S = 3600
TARGETS = {"first_page_10k_s": 1.0, "first_page_50k_s": 2.0, "sync_peak_10k_mb": 600.0}


def log(message: str) -> None:
    print(f"[archive bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_child(mode: str, spec: dict) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "_child", mode, handle.name],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        env=_child_env(),
    )
    Path(handle.name).unlink(missing_ok=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{mode} child failed ({done.returncode}): {done.stderr[-3000:]}")
    return json.loads(lines[-1])


# -- children -------------------------------------------------------------------------------------------
def child_sync(spec: dict) -> dict:
    """One sync through the real client; ``shift_days`` runs it as if that many days later."""
    from creditlens.archive import Archive, ensure
    from creditlens.archive.sync import utc_now
    from creditlens.portal import connect

    conn = connect(spec["url"], spec["username"], spec["password"], ca_bundle=spec["ca_bundle"])
    archive = Archive(conn.identity.org_id, spec["dir"])
    now = utc_now() + dt.timedelta(days=spec.get("shift_days", 0))
    today = now.date()
    started = time.perf_counter()
    report = ensure(archive, conn, today - dt.timedelta(days=DAYS - 1), today, now=now)
    wall = time.perf_counter() - started
    if not report.complete:
        raise RuntimeError("; ".join(f.describe() for f in report.failures))
    return {
        "wall_s": wall,
        "peak_rss_mb": peak_rss_mb(),
        "usage_requests": report.usage_requests,
        "other_requests": report.other_requests,
        "windows": len(report.windows),
        "days_added": report.days_added,
        "days_refreshed": report.days_refreshed,
        "org_id": archive.org_id,
    }


def child_fill(spec: dict) -> dict:
    """Fill an archive from the demo org's replies in process (no HTTPS), for the larger sizes."""
    from creditlens.archive import Archive, ensure
    from creditlens.fake.demo_org import OrgSpec, build_demo_org
    from creditlens.portal import connect_demo

    org = build_demo_org(OrgSpec(members=spec["members"], days=DAYS, seed=DEFAULT_SEED))
    archive = Archive(org.org_id, spec["dir"])
    started = time.perf_counter()
    report = ensure(archive, connect_demo(org=org), org.first_day, org.last_day)
    return {"wall_s": time.perf_counter() - started, "org_id": org.org_id, "windows": len(report.windows)}


def child_first_page(spec: dict) -> dict:
    """The first page of a year from the warm archive: ensure (nothing due), read, the page's reports."""
    from creditlens import reports
    from creditlens.archive import Archive, ensure, read_range
    from creditlens.archive.sync import utc_now
    from creditlens.portal import Identity, PortalConnection

    # Nothing is due in a warm archive, so the page never reaches the portal; if it tried, it fails loudly.
    conn = PortalConnection(Identity("https://bench.invalid", spec["org_id"], "bench"), {}, {}, NoFetch())
    archive = Archive(spec["org_id"], spec["dir"])
    today = utc_now().date()
    start = today - dt.timedelta(days=DAYS - 1)
    times, daily_times, read_times, board_times, sizes = [], [], [], [], {}
    for _ in range(spec["runs"] + 1):
        started = time.perf_counter()
        # Warm: synced earlier today, so nothing is due (the app refreshes today at most every 15 minutes).
        day = dt.timedelta(days=1)
        sync = ensure(archive, conn, start, today, refresh_today_after=day, members_max_age=day)
        data = read_range(archive, start, today, sync=sync)
        previous = reports.previous_period(start, today)
        before = read_range(archive, *previous, sync=sync, with_members=False)
        service_days = data.service_days
        read_times.append(time.perf_counter() - started)
        kpis = reports.overview_kpis(data.summary, before.summary, data.members, archive.org_id, None)
        trend = reports.service_trend(service_days, reports.choose_granularity(start, today))
        board_started = time.perf_counter()
        board = reports.leaderboard(data.summary, data.members, archive.org_id)
        top = board.head(10)
        board_times.append(time.perf_counter() - board_started)
        check = reports.totals_check(data.summary, data.org_totals)
        times.append(time.perf_counter() - started)
        daily_started = time.perf_counter()
        daily_rows = len(data.daily())  # what today's Overview chart reads (timeline.service_chart uses the days)
        daily_times.append(time.perf_counter() - daily_started)
        assert sync.usage_requests == 0 and check.ok and len(top) and len(trend) and kpis.credits > 0
        sizes = {"summary_rows": len(data.summary), "daily_rows": daily_rows, "credits": kpis.credits}
    return {
        "first_s": times[0],
        "warm_s": statistics.median(times[1:]),
        "daily_first_s": daily_times[0],
        "read_first_s": read_times[0],
        "board_first_s": board_times[0],
        "peak_rss_mb": peak_rss_mb(),
        **sizes,
    }


class NoFetch:
    def post(self, path, params):
        raise RuntimeError(f"the first page from a warm archive asked the portal for {path}")

    def relogin(self):
        return None


CHILDREN = {"sync": child_sync, "fill": child_fill, "first_page": child_first_page}


# -- the run --------------------------------------------------------------------------------------------
def measure(sizes: list[int], runs: int, keep: Path | None = None) -> dict:
    results: dict = {"sizes": {}, "started": dt.datetime.now(dt.UTC)}
    work = Path(tempfile.mkdtemp(prefix="creditlens-archive-bench-"))
    first = sizes[0]
    log(f"emulator for {first:,} members")
    with emulator_process(first, DAYS, DEFAULT_SEED, dt.datetime.now(dt.UTC).date()) as emu:
        login = {**emu.login, "dir": str(work / f"m{first}")}
        log("full sync of a year through arcgis")
        full = run_child("sync", login)
        log(f"full sync: {full['wall_s']:.1f} s, peak {full['peak_rss_mb']:.0f} MB")
        again = run_child("sync", login)
        log(f"repeat within the hour: {again['usage_requests']} usage requests, {again['wall_s']:.2f} s")
        next_day = run_child("sync", {**login, "shift_days": 1})
        log(f"a day later: {next_day['usage_requests']} usage requests, {next_day['wall_s']:.2f} s")
    results["sync"] = {"full": full, "again": again, "next_day": next_day, "members": first}
    for size in sizes:
        directory = work / f"m{size}"
        kept = keep / f"m{size}-{DEFAULT_SEED}-{dt.datetime.now(dt.UTC).date()}" if keep else None
        if size == first:
            org_id = full["org_id"]
        elif kept is not None and any(kept.glob("*.duckdb")):
            log(f"reusing the archive for {size:,} members filled earlier today in {kept}")
            directory, org_id = kept, next(kept.glob("*.duckdb")).stem
        else:
            log(f"filling an archive for {size:,} members in process")
            directory = kept or directory
            filled = run_child("fill", {"members": size, "dir": str(directory)})
            org_id = filled["org_id"]
            results["sizes"].setdefault(size, {})["fill_s"] = filled["wall_s"]
        page = run_child("first_page", {"org_id": org_id, "dir": str(directory), "runs": runs})
        log(f"{size:,} members: first page {page['first_s']:.2f} s fresh, {page['warm_s']:.2f} s warm")
        db = next(directory.glob("*.duckdb"))
        results["sizes"].setdefault(size, {}).update(page=page, file_mb=db.stat().st_size / 2**20)
    results["minutes"] = (dt.datetime.now(dt.UTC) - results["started"]).total_seconds() / 60
    shutil.rmtree(work, ignore_errors=True)  # the archives under --keep stay
    return results


def verdict(measured: float, target: float) -> str:
    return "met" if measured <= target else "**missed**"


def render(r: dict) -> str:
    sync = r["sync"]
    full, again, next_day = sync["full"], sync["again"], sync["next_day"]
    sizes = sorted(r["sizes"])
    lines = [
        "## Archive: first page from a warm archive, incremental sync, sync memory",
        "",
        "Written by `python benchmarks/archive.py`; rerun it to refresh this section.",
        "",
        f"- Date: {r['started']:%Y-%m-%d %H:%M} UTC; 2 shared cores; whole run {r['minutes']:.1f} min.",
        f"- Orgs: synthetic, seed {DEFAULT_SEED}, {DAYS} days ending today. The {sync['members']:,}-member "
        "archive is synced through `arcgis` against the HTTPS emulator; larger ones are filled in process "
        "from the same replies.",
        "- First page = `ensure` (nothing due: no request), `read_range` of the year and of the previous year, "
        'overview KPIs, service trend by week, leaderboard and its top 10, add-up check. "Fresh" is the '
        'first in a new process; "warm" the median of the next runs.',
        "",
        "| | " + " | ".join(f"{s:,} members" for s in sizes) + " | target |",
        "|---|" + "---|" * len(sizes) + "---|",
        "| **First page, fresh process (s)** | "
        + " | ".join(f"{r['sizes'][s]['page']['first_s']:.2f}" for s in sizes)
        + " | ≤ 1 at 10k, ≤ 2 at 50k |",
        "| First page, warm (s) | " + " | ".join(f"{r['sizes'][s]['page']['warm_s']:.2f}" for s in sizes) + " | |",
        "| Rows summed per series for the year | "
        + " | ".join(f"{r['sizes'][s]['page']['summary_rows']:,}" for s in sizes)
        + " | |",
        "| of which: ensure and reading the archive (s) | "
        + " | ".join(f"{r['sizes'][s]['page']['read_first_s']:.2f}" for s in sizes)
        + " | |",
        "| of which: `reports.leaderboard` (s) | "
        + " | ".join(f"{r['sizes'][s]['page']['board_first_s']:.2f}" for s in sizes)
        + " | |",
        "| + the year's daily rows, fresh (s) | "
        + " | ".join(f"{r['sizes'][s]['page']['daily_first_s']:.2f}" for s in sizes)
        + " | |",
        "| Daily rows in the year | " + " | ".join(f"{r['sizes'][s]['page']['daily_rows']:,}" for s in sizes) + " | |",
        "| Archive file (MB) | " + " | ".join(f"{r['sizes'][s]['file_mb']:.0f}" for s in sizes) + " | |",
        "| Reader peak RSS (MB) | " + " | ".join(f"{r['sizes'][s]['page']['peak_rss_mb']:.0f}" for s in sizes) + " | |",
        "",
        f"Sync at {sync['members']:,} members, through `arcgis` against the emulator:",
        "",
        "| sync | windows | usage requests | other requests | days added | days refreshed | wall (s) | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, s in (("first, a year", full), ("again within the hour", again), ("a day later", next_day)):
        lines.append(
            f"| {label} | {s['windows']} | {s['usage_requests']} | {s['other_requests']} | {s['days_added']} | "
            f"{s['days_refreshed']} | {s['wall_s']:.2f} | {s['peak_rss_mb']:.0f} |"
        )
    page10 = r["sizes"].get(10_000, {}).get("page")
    page50 = r["sizes"].get(50_000, {}).get("page")
    lines += ["", "| target | measured | verdict |", "|---|---|---|"]
    if page10:
        lines.append(f"| first page ≤ 1 s at 10,000 | {page10['first_s']:.2f} s | {verdict(page10['first_s'], 1)} |")
    if page50:
        lines.append(f"| first page ≤ 2 s at 50,000 | {page50['first_s']:.2f} s | {verdict(page50['first_s'], 2)} |")
    if sync["members"] == 10_000:
        peak = full["peak_rss_mb"]
        lines.append(f"| sync peak RSS ≤ 600 MB at 10,000 | {peak:.0f} MB | {verdict(peak, 600)} |")
    lines.append(
        f"| repeated sync within the hour ≤ 2 usage requests | {again['usage_requests']} | "
        f"{verdict(again['usage_requests'], 2)} |"
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_child"]:
        mode, path = argv[1:3]
        print(json.dumps(CHILDREN[mode](json.loads(Path(path).read_text()))), flush=True)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="300 members, one run, written to a temporary file")
    parser.add_argument(
        "--keep", type=Path, help="keep the archives filled for the larger sizes here, and reuse them the same day"
    )
    args = parser.parse_args(argv)
    sizes = [300] if args.quick else [int(s) for s in args.sizes.split(",")]
    out = Path(tempfile.mkdtemp()) / "performance.md" if args.quick and args.out == DEFAULT_OUT else args.out
    body = render(measure(sizes, 1 if args.quick else args.runs, args.keep))
    write_section(out, SECTION, body)
    print(body)
    log(f"wrote the {SECTION} section of {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
