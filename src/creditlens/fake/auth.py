"""Sign-in state of the emulator (moto's model for auth): accounts, tokens, OAuth sign-ins, codes.

Thread-safe; knows nothing about HTTP. The routes in :mod:`creditlens.fake.signin` turn requests
into calls here and render what comes back.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from creditlens.fake.demo_org import DemoOrg

OAUTH_STATE_TTL_S = 900  # how long a sign-in page stays usable
CODE_TTL_S = 600  # how long an authorization code may be redeemed
REFRESH_TTL_S = 1_209_599  # two weeks, as ArcGIS Online's token reply says
REDEEMED_KEPT = 1_000  # redeemed codes and verifiers remembered for secret scans


@dataclass
class Token:
    org_index: int
    username: str
    expires_at: float  # epoch seconds
    refresh: str | None = None  # the refresh token it was made from, if any


@dataclass
class Authorization:
    """One ``oauth2/authorize`` request waiting for its sign-in (keyed by ``oauth_state``)."""

    client_id: str
    response_type: str
    redirect_uri: str
    state: str | None
    expiration_min: int | None
    created: float
    code_challenge: str | None = None
    code_challenge_method: str = "plain"


@dataclass
class Grant:
    """What a completed sign-in hands back: a code (``response_type=code``) or a token."""

    authorization: Authorization
    username: str
    value: str
    lifetime_s: int


@dataclass
class _Code:
    org_index: int
    username: str
    authorization: Authorization
    issued: float
    lifetime_s: int


class OAuthError(Exception):
    """A refused token request: ``code`` and ``error`` (OAuth's name) and a message, as ArcGIS sends them."""

    def __init__(self, code: int, error: str, message: str) -> None:
        super().__init__(message)
        self.code, self.error, self.message = code, error, message


def s256(verifier: str) -> str:
    """PKCE's S256 challenge of a verifier: base64url(SHA-256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode().rstrip("=")


class AuthModel:
    """Accounts of the emulator's orgs and everything issued to them."""

    def __init__(self, orgs: list[DemoOrg], token_ttl_s: int = 7200, code_ttl_s: float = CODE_TTL_S) -> None:
        self.orgs = orgs
        self.token_ttl_s = int(token_ttl_s)
        self.code_ttl_s = float(code_ttl_s)
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}
        self._pending: dict[str, Authorization] = {}
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, tuple[int, str, float]] = {}  # refresh token -> (org, username, expires)
        self._second_factor: dict[str, tuple[int, str, float]] = {}  # oauth_state -> (org, username, when)
        # Codes and PKCE verifiers once redeemed, kept only so secret scans can look for them too.
        self._redeemed: deque[str] = deque(maxlen=REDEEMED_KEPT)

    # -- accounts ---------------------------------------------------------------------------------
    def find_account(self, username: str, *, case_sensitive: bool) -> tuple[int, str] | None:
        for index, org in enumerate(self.orgs):
            for name in org.passwords:
                if name == username or (not case_sensitive and name.lower() == (username or "").lower()):
                    return index, name
        return None

    def check_password(self, username: str, password: str, *, case_sensitive: bool) -> tuple[int, str] | None:
        """The account, if ``username`` exists, is enabled and ``password`` is its password."""
        found = self.find_account(username or "", case_sensitive=case_sensitive)
        if found is None:
            return None
        org = self.orgs[found[0]]
        member = org.member(found[1])
        if member is None or member.get("disabled"):
            return None
        if not secrets.compare_digest(org.passwords[found[1]].encode(), (password or "").encode()):
            return None
        return found

    # -- tokens -----------------------------------------------------------------------------------
    def lifetime(self, expiration_min: int | None) -> int:
        """Seconds a token lives: the asked ``expiration`` (minutes), capped at the emulator's TTL."""
        if expiration_min and expiration_min > 0:
            return max(1, min(self.token_ttl_s, expiration_min * 60))
        return max(1, self.token_ttl_s)

    def new_token(
        self,
        org_index: int,
        username: str,
        expiration_min: int | None = None,
        *,
        lifetime_s: int | None = None,
        refresh: str | None = None,
    ) -> str:
        token = secrets.token_urlsafe(48)
        lifetime = lifetime_s if lifetime_s is not None else self.lifetime(expiration_min)
        with self._lock:
            self._tokens[token] = Token(org_index, username, time.time() + lifetime, refresh)
        return token

    def token_info(self, token: str) -> Token | None:
        with self._lock:
            info = self._tokens.get(token)
            if info is not None and info.expires_at <= time.time():
                del self._tokens[token]
                return None
            return info

    def issue_token(self, username: str) -> str:
        """A valid token for ``username`` without signing in (for tests that skip the login)."""
        found = self.find_account(username, case_sensitive=False)
        if found is None:
            raise KeyError(username)
        return self.new_token(found[0], found[1])

    def issued_tokens(self) -> list[str]:
        with self._lock:
            return list(self._tokens)

    def issued_refresh_tokens(self) -> list[str]:
        with self._lock:
            return list(self._refresh)

    def issued_codes(self) -> list[str]:
        with self._lock:
            return list(self._codes)

    def issued_secrets(self) -> list[str]:
        """Every live token, refresh token and authorization code, and the codes and PKCE verifiers
        redeemed (for secret scans)."""
        with self._lock:
            return [*self._tokens, *self._refresh, *self._codes, *self._redeemed]

    def expire_all(self) -> None:
        """Invalidate every token, refresh token and code."""
        with self._lock:
            self._tokens.clear()
            self._codes.clear()
            self._refresh.clear()
            self._second_factor.clear()

    # -- OAuth ------------------------------------------------------------------------------------
    def begin(self, authorization: Authorization) -> str:
        """Remember an ``authorize`` request; returns its ``oauth_state``."""
        oauth_state = secrets.token_urlsafe(32)
        with self._lock:
            stale = [k for k, v in self._pending.items() if authorization.created - v.created > OAUTH_STATE_TTL_S]
            for key in stale:
                del self._pending[key]
            self._pending[oauth_state] = authorization
        return oauth_state

    def pending(self, oauth_state: str) -> Authorization | None:
        with self._lock:
            found = self._pending.get(oauth_state)
        if found is None or time.time() - found.created > OAUTH_STATE_TTL_S:
            return None
        return found

    def await_second_factor(self, oauth_state: str, account: tuple[int, str]) -> None:
        """The password of an MFA account was right: its sign-in now waits for the code."""
        now = time.time()
        with self._lock:
            stale = [k for k, v in self._second_factor.items() if now - v[2] > OAUTH_STATE_TTL_S]
            for key in stale:
                del self._second_factor[key]
            self._second_factor[oauth_state] = (*account, now)

    def awaiting_second_factor(self, oauth_state: str) -> tuple[int, str] | None:
        """The account whose sign-in waits for its code, if any (and not expired)."""
        with self._lock:
            found = self._second_factor.get(oauth_state)
        if found is None or time.time() - found[2] > OAUTH_STATE_TTL_S:
            return None
        return found[0], found[1]

    def second_factor_done(self, oauth_state: str) -> None:
        with self._lock:
            self._second_factor.pop(oauth_state, None)

    def complete(self, oauth_state: str, account: tuple[int, str], expiration_min: int | None) -> Grant | None:
        """Finish a sign-in: a code for ``response_type=code``, else an access token. Single use."""
        with self._lock:
            authorization = self._pending.pop(oauth_state, None)
        if authorization is None:
            return None
        org_index, username = account
        expiration = expiration_min or authorization.expiration_min
        lifetime = self.lifetime(expiration)
        if authorization.response_type == "code":
            code = secrets.token_urlsafe(32)
            with self._lock:
                self._codes[code] = _Code(org_index, username, authorization, time.time(), lifetime)
            return Grant(authorization, username, code, lifetime)
        return Grant(authorization, username, self.new_token(org_index, username, lifetime_s=lifetime), lifetime)

    def redeem(self, code: str, redirect_uri: str | None, code_verifier: str | None) -> tuple[str, str, int, str]:
        """Exchange a code: ``(access token, refresh token, lifetime s, username)``. A code works once."""
        with self._lock:
            found = self._codes.pop(code or "", None)
            self._redeemed.extend(s for s in (code, code_verifier) if s and found is not None)
        if found is None or time.time() - found.issued > self.code_ttl_s:
            raise OAuthError(400, "invalid_request", "Invalid authorization code")
        if (redirect_uri or "") != found.authorization.redirect_uri:
            raise OAuthError(400, "invalid_request", "Invalid redirect_uri")
        challenge = found.authorization.code_challenge
        if challenge is not None:
            method = found.authorization.code_challenge_method
            expected = s256(code_verifier or "") if method == "S256" else (code_verifier or "")
            if not code_verifier or not secrets.compare_digest(expected, challenge):
                raise OAuthError(400, "invalid_request", "Invalid code_verifier")
        refresh = secrets.token_urlsafe(48)
        with self._lock:
            self._refresh[refresh] = (found.org_index, found.username, time.time() + REFRESH_TTL_S)
        token = self.new_token(found.org_index, found.username, lifetime_s=found.lifetime_s, refresh=refresh)
        return token, refresh, found.lifetime_s, found.username

    def refresh(self, refresh_token: str, expiration_min: int | None) -> tuple[str, int, str]:
        """A new access token from a refresh token: ``(token, lifetime s, username)``."""
        with self._lock:
            owner = self._refresh.get(refresh_token or "")
        if owner is None or owner[2] <= time.time():
            raise OAuthError(498, "invalid_request", "Invalid refresh_token")
        lifetime = self.lifetime(expiration_min)
        return self.new_token(owner[0], owner[1], lifetime_s=lifetime, refresh=refresh_token), lifetime, owner[1]

    def revoke(self, token: str) -> None:
        """Revoke an access or refresh token (a refresh token takes the access tokens made from it)."""
        with self._lock:
            self._tokens.pop(token, None)
            if self._refresh.pop(token, None) is not None:
                for key in [k for k, v in self._tokens.items() if v.refresh == token]:
                    del self._tokens[key]
