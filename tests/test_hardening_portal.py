"""Issue 10, transport side: token loss on every call, masking, echoed internals, bounded waits.

Every test drives the real ``arcgis`` client against the HTTPS emulator; each is named for the
defect it pins down.
"""

from __future__ import annotations

import threading

import pytest
from urllib3 import HTTPResponse

from creditlens import portal
from creditlens.errors import InvalidPortalURL, LoginFailed, NotArcGISOnline, PortalError, redact
from creditlens.fetching import fetch_members
from creditlens.portal import connect

pytestmark = pytest.mark.integration


def sign_ins(emulator) -> list[dict]:
    return [r for r in emulator.requests if "oauth2/signin" in r["path"] or "generateToken" in r["path"]]


def login_error(emulator, url: str, username: str, password: str) -> Exception:
    with pytest.raises(Exception) as caught:
        connect(url, username, password, ca_bundle=emulator.ca_bundle)
    return caught.value


# -- item 5: a dropped token is signed in again for every call ------------------------------------
@pytest.mark.parametrize("path", ["portals/self", "portals/self/roles", "portals/self/users"])
def test_calls_other_than_usage_sign_in_again_after_the_portal_drops_tokens(conn, emulator, path):
    emulator.expire_tokens()
    emulator.clear_requests()
    reply = conn.post(path, {"start": "1", "num": "10"})
    assert "error" not in reply
    if path == "portals/self":
        assert reply["user"]["username"] == conn.identity.username  # signed in, not an anonymous visitor
    assert len(sign_ins(emulator)) == 1


def test_members_load_after_the_portal_drops_tokens(conn, emulator, small_org):
    emulator.expire_tokens()
    members = fetch_members(conn)
    assert set(members["username"]) == {m["username"] for m in small_org.members}


def test_concurrent_calls_that_lose_the_token_share_one_new_sign_in(conn, emulator):
    emulator.expire_tokens()
    emulator.clear_requests()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            conn.post("portals/self/roles", {})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(sign_ins(emulator)) == 1


def test_a_token_that_stays_invalid_after_signing_in_again_gets_one_plain_message(conn, emulator):
    emulator.faults.add("498", path="portals/self/roles", times=None)
    with pytest.raises(PortalError) as caught:
        conn.post("portals/self/roles", {})
    assert str(caught.value) == portal.TOKEN_LOST


# -- item 8: masking only whole tokens, matching before masking ------------------------------------
def test_the_password_password_still_gets_the_wrong_password_message(emulator, small_org):
    error = login_error(emulator, emulator.url, small_org.admin_username, "password")
    assert isinstance(error, LoginFailed)
    assert str(error) == "Sign-in failed: the username or password is wrong."


def test_the_password_1_does_not_mask_digits_of_the_host():
    assert redact("Could not reach org1.example.com:8443. Check it.", "1") == (
        "Could not reach org1.example.com:8443. Check it."
    )
    assert redact("Could not reach 127.0.0.1:1.", "1") == "Could not reach 127.0.0.1:1."


@pytest.mark.parametrize(
    ("text", "secret", "masked"),
    [
        ("the password hunter2 is wrong.", "hunter2", "the password *** is wrong."),
        ("echo 'hunter2'.", "hunter2", "echo '***'."),
        ("POST /x?user=a&pw=hunter2&f=json", "hunter2", "POST /x?user=a&pw=***&f=json"),
        ("sent p%40ss%21 as p@ss!", "p@ss!", "sent *** as ***"),
        ("hunter22 and xhunter2 stay", "hunter2", "hunter22 and xhunter2 stay"),
    ],
)
def test_a_secret_is_masked_as_a_whole_token(text, secret, masked):
    assert redact(text, secret) == masked


# -- item 9: echoed internals -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://admin:Tr0ub4dor@myorg.maps.arcgis.com",
        "ftp://admin:Tr0ub4dor@myorg.maps.arcgis.com",
        "https://admin:Tr0ub4dor@my_org!.example",
    ],
)
def test_a_url_with_a_password_in_it_is_never_repeated(url):
    with pytest.raises(InvalidPortalURL) as caught:
        portal.normalize_portal_url(url)
    assert "Tr0ub4dor" not in str(caught.value)
    assert "admin:" not in str(caught.value)


def test_a_url_with_a_password_signs_in_without_keeping_it(emulator, small_org):
    host = emulator.url.split("://", 1)[1]
    url = f"https://someone:Tr0ub4dor@{host}"
    conn = connect(
        url, small_org.admin_username, small_org.passwords[small_org.admin_username], ca_bundle=emulator.ca_bundle
    )
    assert "Tr0ub4dor" not in repr(conn.identity) and conn.identity.portal_url == emulator.url


def test_a_server_that_answers_html_is_named_not_echoed(emulator, small_org):
    emulator.faults.add("html_error", path="info", times=None)
    error = login_error(emulator, emulator.url, small_org.admin_username, small_org.passwords[small_org.admin_username])
    assert isinstance(error, NotArcGISOnline)
    assert "is not an ArcGIS Online organization address" in str(error)
    assert "<" not in str(error)


@pytest.mark.parametrize("port", ["99999", "0", "84x3"])
def test_a_bad_port_is_said_in_our_words(port):
    with pytest.raises(InvalidPortalURL) as caught:
        portal.normalize_portal_url(f"https://myorg.maps.arcgis.com:{port}")
    assert "invalid port" in str(caught.value)
    assert "Failed to parse" not in str(caught.value) and "urllib3" not in str(caught.value)


def test_a_wrong_path_says_it_is_not_an_organization_address(emulator, small_org):
    url = emulator.url + "/not-a-portal"
    error = login_error(emulator, url, small_org.admin_username, small_org.passwords[small_org.admin_username])
    assert isinstance(error, NotArcGISOnline)
    assert str(error).startswith(f"{url} is not an ArcGIS Online organization address")


def test_an_unexpected_transport_failure_shows_no_connection_pool_text(conn, emulator):
    error = portal.portal_error_from(
        Exception("A connection error has occurred: HTTPSConnectionPool(host='x', port=1): Read failed")
    )
    assert "ConnectionPool" not in str(error) and str(error) == "The connection to the portal failed."


# -- item 10: bounded waits on the transport -----------------------------------------------------------
def test_retry_after_is_capped(conn):
    policy = conn.transport._gis._con._session.adapters["https://"].max_retries
    reply = HTTPResponse(body=b"", headers={"Retry-After": "3600"}, status=429, preload_content=False)
    assert policy.get_retry_after(reply) == portal.RETRY_AFTER_CAP_S
    assert portal.RETRY_AFTER_CAP_S <= 30
    later = policy.increment(method="POST", url="/x", response=reply)  # every later state keeps the cap
    assert later.get_retry_after(reply) == portal.RETRY_AFTER_CAP_S


def test_an_hour_long_retry_after_is_waited_for_the_cap_only(conn, emulator, small_org, monkeypatch):
    monkeypatch.setattr(portal, "RETRY_AFTER_CAP_S", 0.2)
    emulator.faults.add("429", path="portals/self/roles", times=1, retry_after=3600)
    emulator.clear_requests()
    reply = conn.post("portals/self/roles", {})
    assert "roles" in reply
    tries = [r for r in emulator.requests if r["path"].endswith("portals/self/roles")]
    assert [r["status"] for r in tries] == [429, 200]


def test_a_portal_that_stops_answering_is_asked_a_bounded_number_of_times(emulator, small_org):
    quick = connect(
        emulator.url,
        small_org.admin_username,
        small_org.passwords[small_org.admin_username],
        ca_bundle=emulator.ca_bundle,
        timeout_s=1,
    )
    stall = emulator.faults.add("timeout", path="portals/self/roles", times=None, delay_s=2.5)
    try:
        with pytest.raises(PortalError) as caught:
            quick.post("portals/self/roles", {})
    finally:
        emulator.faults.clear()
    assert str(caught.value) == "The portal did not answer in time."
    # Counted as they arrive (the request log is written only once the stalled reply is sent).
    assert stall.hits == 1 + portal.READ_RETRIES  # arcgis alone would ask 6 times (5 read retries)
    assert portal.READ_RETRIES <= 1 and portal.DEFAULT_TIMEOUT_S <= 60
