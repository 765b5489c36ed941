"""Every session-state key the app uses, in one place, and the view the pages read."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from creditlens import dates
from creditlens.portal import PortalConnection

# Connection
MODE = "cl_mode"  # the connection radio
MODE_LABELS = "cl_mode_labels"  # the connection radio's labels in the previous run
URL = "cl_portal_url"
USER = "cl_username"
PASSWORD = "cl_password"  # a widget key; emptied by the Connect callback, never holds a password after it
CONN = "cl_connection"  # the signed-in ArcGIS Online connection (session only, never a cache)
DEMO_CONN = "cl_demo_connection"
LOGIN_ERROR = "cl_login_error"

# Period
PRESET = "cl_preset"
CUSTOM = "cl_custom_range"
LAST_RANGE = "cl_last_valid_range"
VIEW = "cl_view"

# Links
QP_DONE = "cl_query_params_read"  # set of scopes ("app", page names) whose link params were applied
QP_WARNINGS = "cl_query_param_warnings"
QP_SLOT = "cl_query_param_slot"  # where this run's page shows its link warnings, under its header

# Page widgets
GRANULARITY = "cl_granularity"
LB_STATUS, LB_ROLE, LB_TYPE = "lb_status", "lb_role", "lb_type"
LB_SERVICE, LB_MIN, LB_SEARCH = "lb_service", "lb_min_credits", "lb_search"
TOP_N, DRILL = "tr_top_n", "tr_user"
#: Widget keys that belong to one org's data: dropped on sign-out so they never leak into another org.
ORG_WIDGETS = (LB_STATUS, LB_ROLE, LB_TYPE, LB_SERVICE, LB_MIN, LB_SEARCH, TOP_N, DRILL)

# Access gate
ACCESS_ATTEMPTS = "cl_access_attempts"  # this session's AccessAttempts
ACCESS_CODE = "cl_access_code"  # the code widget; emptied by its callback, never holds a code after it
ACCESS_CODE_NOTICE = "cl_access_code_notice"
OIDC_ERROR = "cl_oidc_error"

DEMO, ONLINE = "Demo organization", "ArcGIS Online"


@dataclass(frozen=True)
class View:
    """Who is looking at which range: what the router hands to the pages through session state."""

    conn: PortalConnection
    start: dt.date
    end: dt.date
    preset: str | None = None

    @property
    def identity_key(self) -> str:
        return self.conn.identity.cache_key

    @property
    def org_id(self) -> str:
        return self.conn.identity.org_id

    @property
    def label(self) -> str:
        return dates.range_label(self.start, self.end)
