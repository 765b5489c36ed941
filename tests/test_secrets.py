"""A sentinel password and the tokens the emulator issued must appear nowhere we can see."""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from pathlib import Path

import pytest

from creditlens.cli import main
from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.portal import connect

pytestmark = pytest.mark.integration

SENTINEL = "Sentinel-Pa55word-7f3a9c"


@pytest.fixture(scope="module")
def sentinel_emulator(small_org, emulator_factory):
    org = build_demo_org(OrgSpec(members=15, days=90, seed=21, end_day=small_org.last_day, url_key="sentinel"))
    org.passwords["sentinel_admin"] = SENTINEL
    return emulator_factory([org]), org


def issued_tokens(emu) -> list[str]:
    return emu.issued_tokens()


def files_containing(root: Path, needles: list[str], since: float) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and path.stat().st_mtime >= since and path.stat().st_size < 50_000_000:
                data = path.read_bytes()
                if any(n.encode() in data for n in needles):
                    hits.append(path)
        except OSError:
            continue
    return hits


def test_cli_run_leaks_no_password_or_token(sentinel_emulator, capsys, caplog, monkeypatch, tmp_path):
    emu, org = sentinel_emulator
    monkeypatch.setenv("CREDITLENS_PASSWORD", SENTINEL)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    tempfile.tempdir = None  # pick up TMPDIR
    caplog.set_level(logging.DEBUG)
    start = dt.datetime.now().timestamp()
    out_file = tmp_path / "out.csv"
    end = org.last_day
    code = main(
        [
            "export",
            "--portal",
            emu.url,
            "--username",
            "sentinel_admin",
            "--ca-bundle",
            emu.ca_bundle,
            "--start",
            (end - dt.timedelta(days=70)).isoformat(),
            "--end",
            end.isoformat(),
            "--report",
            "leaderboard",
            "--out",
            str(out_file),
        ]
    )
    tempfile.tempdir = None
    assert code == 0
    out, err = capsys.readouterr()
    secrets = [SENTINEL, *issued_tokens(emu)]
    assert len(secrets) > 1, "the emulator issued a token during the run"
    captured = out + err + caplog.text + "\n".join(str(r["params"]) for r in emu.requests)
    for secret in secrets:
        assert secret not in captured
    assert files_containing(tmp_path, secrets, start) == []
    assert files_containing(Path(tempfile.gettempdir()), [SENTINEL], start) == []


def test_wrong_password_message_does_not_echo_it(sentinel_emulator, capsys, monkeypatch):
    emu, org = sentinel_emulator
    wrong = SENTINEL + "-wrong"
    monkeypatch.setenv("CREDITLENS_PASSWORD", wrong)
    end = org.last_day
    code = main(
        [
            "export",
            "--portal",
            emu.url,
            "--username",
            "sentinel_admin",
            "--ca-bundle",
            emu.ca_bundle,
            "--start",
            end.isoformat(),
            "--end",
            end.isoformat(),
            "--report",
            "usage",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "username or password is wrong" in err and wrong not in err


def test_connection_objects_do_not_expose_the_password(sentinel_emulator):
    emu, _ = sentinel_emulator
    conn = connect(emu.url, "sentinel_admin", SENTINEL, ca_bundle=emu.ca_bundle)
    assert SENTINEL not in repr(conn) and SENTINEL not in conn.identity.cache_key
    assert all(token not in conn.identity.cache_key for token in issued_tokens(emu))
    assert SENTINEL not in str(vars(conn.identity))


def test_env_file_is_git_ignored():
    ignored = Path(__file__).resolve().parents[1].joinpath(".gitignore").read_text().splitlines()
    assert ".env" in ignored and ".streamlit/secrets.toml" in ignored
    example = Path(__file__).resolve().parents[1].joinpath(".env.example").read_text()
    for name in ("CREDITLENS_PORTAL_URL", "CREDITLENS_USERNAME", "CREDITLENS_PASSWORD", "CREDITLENS_CA_BUNDLE"):
        assert name in example
    assert os.environ.get("CREDITLENS_PASSWORD") != SENTINEL
