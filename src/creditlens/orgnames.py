"""Names of the other organizations whose users appear in the usage, where the portal gives one.

The usage endpoint names another organization's users only by their ``userOrgId``. ArcGIS Online
describes an organization at ``portals/<orgId>``; for another org it may answer with its public
``name``, or refuse. Each id is asked once; a refusal, an error or a reply without a name leaves
that org unnamed (shown by its id), never fails the page.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from creditlens.errors import CreditLensError
from creditlens.portal import PortalConnection

log = logging.getLogger(__name__)

#: Org ids are short alphanumeric keys; anything else is not sent into a request path.
_ORG_ID = re.compile(r"^[A-Za-z0-9]{8,32}$")
MAX_ORGS = 50  # a bound on the look-ups one page may cause
MAX_NAME = 120


def external_org_names(conn: PortalConnection, org_ids: Iterable[str]) -> dict[str, str]:
    """``{org id: name}`` for the ids the portal names; ids it does not name are left out."""
    names: dict[str, str] = {}
    wanted = [i for i in dict.fromkeys(str(i) for i in org_ids) if _ORG_ID.match(i) and i != conn.identity.org_id]
    for org_id in wanted[:MAX_ORGS]:
        name = _org_name(conn, org_id)
        if name:
            names[org_id] = name
    return names


def _org_name(conn: PortalConnection, org_id: str) -> str | None:
    try:
        reply = conn.post(f"portals/{org_id}", {})
    except CreditLensError as exc:
        log.info("no name for org %s: %s", org_id, type(exc).__name__)
        return None
    if not isinstance(reply, dict) or str(reply.get("id") or org_id) != org_id:
        return None  # not this org's description (some portals answer with the caller's own)
    name = reply.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    return " ".join(name.split())[:MAX_NAME]
