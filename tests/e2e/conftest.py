"""Playwright end-to-end fixtures: a real ``streamlit run`` on 127.0.0.1 and Debian's Chromium.

Servers are health-polled; no test sleeps for a fixed time.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CREDITLENS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DEFAULT_TIMEOUT_MS = 45_000  # Playwright's default (30 s) is tight for a first load on a busy 2-core machine
# Variables that would change what the app connects to: every server starts from a clean slate.
_APP_ENV_PREFIXES = ("CREDITLENS_",)


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


class StreamlitServer:
    def __init__(self, env: dict[str, str] | None = None, log_dir: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(_APP_ENV_PREFIXES)}
        self.env = {**base_env, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log_path = (log_dir or ROOT / "test-artifacts") / f"streamlit-{self.port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None

    def start(self) -> StreamlitServer:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
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
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self._healthy, 90, f"streamlit health on {self.url}")
        return self

    def _healthy(self) -> bool:
        if self.process and self.process.poll() is not None:
            raise RuntimeError(f"streamlit exited early; see {self.log_path}")
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as reply:
                return reply.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


class EmulatorProcess:
    """``creditlens emulator`` as a subprocess, as a person would run it.

    It writes a ready file once it listens (``--ready-file``); ``url``, ``ca_bundle``, ``orgs``
    (name -> url key) and ``passwords`` (the demo sign-in accounts) come from there. Its output
    goes to a log file beside the certificate, so it never blocks.
    """

    def __init__(self, cert_dir: Path, *extra: str) -> None:
        ready = cert_dir / "emulator-ready.json"
        self.log_path = cert_dir / "emulator.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "creditlens.fake.emulator",
                "--port",
                "0",
                "--cert-dir",
                str(cert_dir),
                "--ready-file",
                str(ready),
                *extra,
            ],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            info = wait_until(lambda: self._read_ready(ready), 90, "the emulator's ready file")
        except BaseException:
            self.stop()
            raise
        self.url = info["url"]
        self.ca_bundle = info["ca_bundle"]
        self.orgs: dict[str, str] = {o["name"]: o["urlKey"] for o in info["orgs"]}
        self.passwords: dict[str, str] = {a["username"]: a["password"] for o in info["orgs"] for a in o["accounts"]}

    def _read_ready(self, path: Path) -> dict | None:
        if self.process.poll() is not None:
            raise RuntimeError(f"emulator exited early; see {self.log_path}")
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # not written yet

    def control(self, action: str, method: str = "GET") -> dict:
        """Call the emulator's loopback control endpoint (``/__emulator__/<action>``), e.g. ``requests``."""
        context = ssl.create_default_context(cafile=self.ca_bundle)
        request = urllib.request.Request(f"{self.url}/__emulator__/{action}", method=method)
        with urllib.request.urlopen(request, context=context, timeout=15) as reply:
            return json.loads(reply.read())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def demo_server() -> Iterator[StreamlitServer]:
    server = StreamlitServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def emulator_process(tmp_path_factory) -> Iterator[EmulatorProcess]:
    emu = EmulatorProcess(tmp_path_factory.mktemp("emulator-cert"), "--members", "120", "--second-org")
    yield emu
    emu.stop()


@pytest.fixture(scope="session")
def emulator_app(emulator_process) -> Iterator[StreamlitServer]:
    """A ``streamlit run`` that trusts the emulator's certificate (the sign-in flows need it)."""
    server = StreamlitServer(env={"CREDITLENS_CA_BUNDLE": emulator_process.ca_bundle}).start()
    yield server
    server.stop()


def new_page(browser, width: int = 1440, height: int = 1000):
    """A page in a fresh browser context (its own cookies, so its own Streamlit session)."""
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    return context.new_page()


@pytest.fixture
def page(browser):
    page = new_page(browser)
    yield page
    page.context.close()


# The main area's height once it has stayed the same for 10 animation frames (charts size themselves late).
_SETTLED_HEIGHT = """() => new Promise(done => {
    let last = -1, same = 0;
    const tick = () => {
        const main = document.querySelector('[data-testid="stMain"]');
        const height = main ? main.scrollHeight : 0;
        same = height === last ? same + 1 : 0;
        last = height;
        if (same >= 10) done(height); else requestAnimationFrame(tick);
    };
    tick();
})"""


def screenshot(page, name: str, full_page: bool = True, directory: Path = ARTIFACTS) -> Path:
    """Save ``<directory>/<name>.png``: the viewport, or (``full_page``) the whole of the main area.

    Streamlit scrolls its main area inside a fixed-size document, so Playwright's own ``full_page``
    sees only the viewport: the viewport is made as tall as the content for the picture instead.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    size = page.viewport_size
    height = page.evaluate(_SETTLED_HEIGHT)
    if full_page and size and height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": min(height, 10_000)})
        try:
            page.evaluate(_SETTLED_HEIGHT)
            page.screenshot(path=str(path))
        finally:
            page.set_viewport_size(size)
    else:
        page.screenshot(path=str(path))
    return path


def wait_for_app(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit has rendered and is not (visibly) running the script.

    A run shows a running icon after 500 ms and marks the previous run's elements ``data-stale``
    until they are redrawn. Right after a click the next run may not have started yet, so tests
    also wait for what the action should produce (a query param, a caption, a title).
    """
    page.wait_for_selector('[data-testid="stAppViewContainer"]', timeout=timeout_ms)
    page.wait_for_function(
        """() => {
            const running = document.querySelector('[data-testid="stStatusWidgetRunningIcon"]')
                || /running/i.test(document.querySelector('[data-testid="stStatusWidget"]')?.innerText || '');
            const stale = document.querySelector('[data-stale="true"]');
            const main = document.querySelector('[data-testid="stMain"], section.main');
            return !running && !stale && main && main.innerText.trim().length > 0;
        }""",
        timeout=timeout_ms,
    )


# -- page helpers shared by the browser tests ---------------------------------------------------------
MAIN = '[data-testid="stMain"]'
SIDEBAR = '[data-testid="stSidebar"]'
SHOWING = re.compile(r"^Showing ([\d,]+) of ([\d,]+) usernames\.$")


def assert_clean(page) -> None:
    """No exception element, no error alert and no "Something went wrong" anywhere on the page."""
    assert page.locator('[data-testid="stException"]').count() == 0, "an exception is shown"
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert errors.count() == 0, f"an error is shown: {errors.all_inner_texts()}"
    assert page.get_by_text("Something went wrong").count() == 0, "'Something went wrong' is shown"


def open_page(page, title: str) -> None:
    """Click a page in the sidebar navigation and wait until it has run."""
    page.locator(SIDEBAR).get_by_role("link", name=title, exact=True).click()
    page.locator(f"{MAIN} h1", has_text=title).wait_for()
    wait_for_app(page)


def query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def wait_for_query(page, **expected: str) -> None:
    """Wait until the URL's query params include ``expected`` (the app writes them at the end of a run)."""
    page.wait_for_function(
        """expected => {
            const params = new URLSearchParams(location.search);
            return Object.entries(expected).every(([k, v]) => params.get(k) === v);
        }""",
        arg=expected,
    )


def choose_period(page, label: str) -> None:
    page.locator(SIDEBAR).get_by_role("combobox", name="Period").click()
    page.get_by_role("option", name=label, exact=True).click()


def header_caption(page) -> str:
    """The line under a page's title: ``<org name> · <range label> · All dates are UTC``."""
    return page.locator(MAIN).get_by_text(" · All dates are UTC").inner_text()


def showing(page) -> tuple[int, int]:
    """The leaderboard's "Showing N of M usernames." as (N, M)."""
    text = page.locator(MAIN).get_by_text(SHOWING).inner_text()
    shown, total = SHOWING.match(text.strip()).groups()
    return int(shown.replace(",", "")), int(total.replace(",", ""))


def fill_sign_in(page, portal_url: str, username: str, password: str):
    """The sidebar's sign-in form, filled in (ArcGIS Online, organization URL, username, password).

    Returns the Connect button, not yet clicked (to sign in several sessions at the same moment).
    """
    sidebar = page.locator(SIDEBAR)
    sidebar.get_by_text("ArcGIS Online", exact=True).click()
    url_box = sidebar.get_by_role("textbox", name="Organization URL")
    url_box.wait_for()
    wait_for_app(page)
    url_box.fill(portal_url)
    sidebar.get_by_role("textbox", name="Username").fill(username)
    sidebar.get_by_role("textbox", name="Password").fill(password)
    return sidebar.get_by_role("button", name="Connect")


def sign_in(page, portal_url: str, username: str, password: str, org_name: str) -> None:
    """The real sign-in flow through the sidebar, until ``org_name`` is shown as connected."""
    fill_sign_in(page, portal_url, username, password).click()
    wait_signed_in(page, org_name)


def wait_signed_in(page, org_name: str) -> None:
    sidebar = page.locator(SIDEBAR)
    sidebar.get_by_role("button", name="Sign out").wait_for()
    sidebar.get_by_text(org_name, exact=True).wait_for()
    wait_for_app(page)


_READ_GRID = """frame => {
    const table = frame.querySelector('table[role="grid"]');
    if (!table) return null;
    const names = {};
    table.querySelectorAll('thead th').forEach(th => { names[th.getAttribute('aria-colindex')] = th.textContent; });
    const rows = [...table.querySelectorAll('tbody tr')].map(tr => {
        const cells = {};
        tr.querySelectorAll('td').forEach(td => { cells[names[td.getAttribute('aria-colindex')]] = td.textContent; });
        return [Number(tr.getAttribute('aria-rowindex')) - 2, cells];
    });
    return {total: Number(table.getAttribute('aria-rowcount')) - 1, rows};
}"""


def read_grid(page, rows: int | None = None, index: int = 0, everything: bool = True) -> list[dict[str, str]]:
    """Every row of the ``index``-th ``st.dataframe`` in the main area, as {column title: cell text}.

    ``st.dataframe`` draws on a canvas (glide-data-grid), which also keeps an offscreen accessible
    ``<table role="grid">`` of the rows and columns in view (pinned columns always are), with
    ``aria-rowcount`` for the whole table. We read that table, scrolling the grid until every row
    has been seen (only the rows in view, from the top, when not ``everything``). ``rows``: wait
    until the grid holds that many rows (the table follows a rerun with a short debounce).
    """
    frame = page.locator(f'{MAIN} [data-testid="stDataFrame"]').nth(index)
    frame.locator('table[role="grid"]').wait_for(state="attached")
    if rows is not None:
        frame.locator(f'table[role="grid"][aria-rowcount="{rows + 1}"]').wait_for(state="attached")
    seen: dict[int, dict[str, str]] = {}
    scroller = frame.locator(".dvn-scroller").first
    for _ in range(200):
        grid = frame.evaluate(_READ_GRID)
        seen.update({i: cells for i, cells in grid["rows"] if i >= 0})
        if not everything:
            return [seen[i] for i in sorted(seen)]
        if len(seen) >= grid["total"]:
            return [seen[i] for i in range(grid["total"])]
        if not seen:  # drawn, but its accessible rows are not there yet
            frame.locator("tbody tr").first.wait_for(state="attached")
            continue
        last = max(seen)
        scroller.evaluate("s => { s.scrollTop += s.clientHeight / 2; }")
        frame.locator(f'tbody tr[aria-rowindex="{last + 3}"]').wait_for(state="attached")
    raise AssertionError(f"could not read every row of the grid: saw {len(seen)} of {grid['total']}")


def download_csv(page, button: str = "Download CSV") -> tuple[str, list[dict[str, str]]]:
    """Click a download button; (suggested file name, rows of the CSV)."""
    with page.expect_download() as info:
        page.locator(MAIN).get_by_role("button", name=button).click()
    download = info.value
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    return download.suggested_filename, list(csv.DictReader(io.StringIO(text)))
