"""The CLI's Sign in with ArcGIS paths against the emulator: ``--client-id`` (out of band: open the URL,
paste the code) and ``--token-env NAME``; no token, code or verifier in the output, the log or on disk."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import sys
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import keyring
import keyring.backend
import keyring.backends.fail
import keyring.errors
import pytest

from creditlens.cli import main
from creditlens.fake.auth import s256
from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.fake.oauth_flow import add_oauth_admins, browser_sign_in, mfa_code, mfa_password

pytestmark = pytest.mark.integration

MFA_ADMIN = "pier_mfa_admin"


@pytest.fixture(scope="module")
def org(small_org):
    spec = OrgSpec(members=15, days=40, seed=29, end_day=small_org.last_day, url_key="pier", name="Pier GIS")
    return add_oauth_admins(build_demo_org(spec))


@pytest.fixture(scope="module")
def emu(emulator_factory, org):
    return emulator_factory([org])


def export_args(emu, org, *source: str) -> list[str]:
    day = org.last_day.isoformat()
    return [
        "export",
        "--portal",
        emu.url,
        *source,
        "--ca-bundle",
        emu.ca_bundle,
        "--start",
        day,
        "--end",
        day,
        "--report",
        "members",
    ]


class PersonAtTheTerminal:
    """Standard input of a person who opens the printed URL in a browser, signs in and pastes the code."""

    def __init__(self, capsys, emu, org) -> None:
        self.capsys, self.emu, self.org = capsys, emu, org
        self.printed = ""
        self.code = ""

    def isatty(self) -> bool:
        return False

    def readline(self) -> str:
        self.printed += self.capsys.readouterr().err
        url = next(line for line in self.printed.splitlines() if line.startswith("https://"))
        self.code = browser_sign_in(
            url, MFA_ADMIN, mfa_password(MFA_ADMIN), mfa_code(self.org), verify=self.emu.ca_bundle
        )
        return self.code + "\n"


def files_containing(root: Path, needles: list[str], since: float) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        try:
            if (
                path.is_file()
                and path.stat().st_mtime >= since
                and any(n.encode() in path.read_bytes() for n in needles)
            ):
                hits.append(path)
        except OSError:
            continue
    return hits


def members_of(out: str) -> set[str]:
    return {row["username"] for row in csv.DictReader(io.StringIO(out))}


def test_client_id_signs_in_out_of_band_and_leaks_nothing(emu, org, capsys, caplog, monkeypatch, tmp_path):
    person = PersonAtTheTerminal(capsys, emu, org)
    monkeypatch.setattr(sys, "stdin", person)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    tempfile.tempdir = None
    caplog.set_level(logging.DEBUG)
    started = dt.datetime.now().timestamp()
    emu.clear_requests()
    try:
        code = main(export_args(emu, org, "--client-id", "creditlens-cli"))
    finally:
        tempfile.tempdir = None
    out, err = capsys.readouterr()
    err = person.printed + err
    assert code == 0, err
    assert {m["username"] for m in org.members} == members_of(out)
    url_line = next(line for line in err.splitlines() if line.startswith("https://"))
    assert "code_challenge_method=S256" in url_line and "redirect_uri=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob" in url_line
    exchange = [r for r in emu.requests if r["path"] == "/sharing/rest/oauth2/token"]
    assert exchange and exchange[0]["params"]["grant_type"] == "authorization_code"
    secrets = [person.code, *emu.issued_secrets()]
    assert len(secrets) > 2
    challenge = parse_qs(urlsplit(url_line).query)["code_challenge"][0]
    assert [s for s in secrets if s256(s) == challenge], "the PKCE verifier is among the secrets scanned for"
    for secret in secrets:
        assert secret not in out + err + caplog.text
    assert files_containing(tmp_path, secrets, started) == []


def test_client_id_with_no_code_pasted_is_one_line(emu, org, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    code = main(export_args(emu, org, "--client-id", "creditlens-cli"))
    err = capsys.readouterr().err
    assert code == 1 and err.strip().splitlines()[-1].endswith("No code was entered.")
    assert "Traceback" not in err


def test_token_env_reads_a_token_another_tool_obtained(emu, org, capsys, monkeypatch):
    token = emu.auth.new_token(0, MFA_ADMIN)  # a token another tool obtained for the MFA admin
    monkeypatch.setenv("PIER_TOKEN", token)
    code = main(export_args(emu, org, "--token-env", "PIER_TOKEN"))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert members_of(out) == {m["username"] for m in org.members}
    assert token not in out + err


def test_token_env_problems_are_one_line(emu, org, capsys, monkeypatch):
    monkeypatch.delenv("PIER_NOTHING", raising=False)
    assert main(export_args(emu, org, "--token-env", "PIER_NOTHING")) == 1
    assert "PIER_NOTHING: that environment variable is empty or not set" in capsys.readouterr().err
    monkeypatch.setenv("PIER_BAD", "not-a-token")
    assert main(export_args(emu, org, "--token-env", "PIER_BAD")) == 1
    err = capsys.readouterr().err
    assert "did not accept the access token" in err and "not-a-token" not in err
    assert main(export_args(emu, org, "--token-env", "PIER_BAD", "--username", "x")) == 1
    assert "needs one of --username, --client-id or --token-env" in capsys.readouterr().err


def test_password_sign_in_of_the_oauth_admins_points_to_client_id(emu, org, capsys, monkeypatch):
    monkeypatch.setenv("CREDITLENS_PASSWORD", mfa_password(MFA_ADMIN))
    assert main(export_args(emu, org, "--username", MFA_ADMIN)) == 1
    assert "use Sign in with ArcGIS (in the command line: --client-id)" in capsys.readouterr().err
    monkeypatch.setenv("CREDITLENS_PASSWORD", "whatever")
    assert main(export_args(emu, org, "--username", "pier_sso_admin")) == 1
    err = capsys.readouterr().err
    assert "username or password is wrong" in err and "use --client-id" in err


class MemoryKeyring(keyring.backend.KeyringBackend):
    """An OS keyring stand-in (this machine has none): the keyring package's own backend interface."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.items.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


class NobodyAtTheTerminal:
    def isatty(self) -> bool:
        return False

    def readline(self) -> str:
        raise AssertionError("a remembered sign-in must not ask for a code")


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    store = MemoryKeyring()
    keyring.set_keyring(store)
    yield store
    keyring.set_keyring(previous)


def test_remember_keeps_the_refresh_token_in_the_keyring_only(emu, org, capsys, monkeypatch, tmp_path, memory_keyring):
    monkeypatch.chdir(tmp_path)
    started = dt.datetime.now().timestamp()
    person = PersonAtTheTerminal(capsys, emu, org)
    monkeypatch.setattr(sys, "stdin", person)
    assert main(export_args(emu, org, "--client-id", "creditlens-cli", "--remember")) == 0
    capsys.readouterr()
    [(service, entry)] = memory_keyring.items
    refresh = memory_keyring.items[(service, entry)]
    assert service == "creditlens" and entry == f"{emu.url}|creditlens-cli"
    assert refresh in emu.auth.issued_refresh_tokens()
    assert files_containing(tmp_path, [refresh], started) == []
    # the next run renews from the keyring: no browser, no code
    monkeypatch.setattr(sys, "stdin", NobodyAtTheTerminal())
    assert main(export_args(emu, org, "--client-id", "creditlens-cli", "--remember")) == 0
    out, err = capsys.readouterr()
    assert members_of(out) == {m["username"] for m in org.members} and "https://" not in err
    # revoked at the portal: the stale entry is dropped and the browser is asked again
    emu.auth.revoke(refresh)
    monkeypatch.setattr(sys, "stdin", PersonAtTheTerminal(capsys, emu, org))
    assert main(export_args(emu, org, "--client-id", "creditlens-cli", "--remember")) == 0
    assert memory_keyring.items[(service, entry)] != refresh


def test_remember_without_a_keyring_says_so_and_still_signs_in(emu, org, capsys, monkeypatch):
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        monkeypatch.setattr(sys, "stdin", PersonAtTheTerminal(capsys, emu, org))
        assert main(export_args(emu, org, "--client-id", "creditlens-cli", "--remember")) == 0
    finally:
        keyring.set_keyring(previous)
    assert "no OS keyring is available" in capsys.readouterr().err
    assert main(export_args(emu, org, "--username", "x", "--remember")) == 1
    assert "use it with --client-id" in capsys.readouterr().err
