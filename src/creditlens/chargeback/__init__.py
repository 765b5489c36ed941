"""Chargeback: credits and cost per cost center, with lines that add up to the org total. Pure functions.

Every member gets at most one cost center's worth of usage, from one source:

* **groups**: ArcGIS Online groups chosen as cost centers; a member of several chosen groups is split
  evenly between them (weights 1/k, summing to 1);
* **a mapping file**: CSV ``username,cost_center``; bad rows are reported by line number and skipped;
* **a member field**: role or user type.

The table has one line per cost center, then three fixed lines: members with no cost center, org
overhead (usage by former members, external users and public accounts) and unattributed usage.
Together they are exactly the range's usage, which the page checks against the org-wide total.

The public surface is this package; behind it: ``_centers`` (the sources), ``_groups`` (fetching groups),
``_table`` (the table and its check) and ``_chart``.
"""

from creditlens.chargeback._centers import (
    CHECK_TOLERANCE,
    COST_CENTER,
    DRILL_COLUMNS,
    FILE,
    GROUPS,
    LINE_HELP,
    LINE_KIND_LABELS,
    LINE_LABELS,
    MAX_COST_CENTER_CHARS,
    MAX_MAPPING_BYTES,
    MAX_MAPPING_ROWS,
    NO_COST_CENTER,
    NON_MEMBER_STATUSES,
    OVERHEAD,
    ROLE,
    SOURCE_LABELS,
    SOURCES,
    TABLE_COLUMNS,
    TOP_SERVICES,
    UNATTRIBUTED,
    USER_TYPE,
    CostCenterError,
    CostCenters,
    Group,
    MappingReport,
    RowIssue,
    from_groups,
    from_mapping_csv,
    from_member_field,
    groups_with_tag,
)
from creditlens.chargeback._chart import (
    FIXED_LINE_COLORS,
    monthly_chart,
)
from creditlens.chargeback._groups import (
    DEFAULT_GROUP_TAG,
    GROUP_PAGE,
    MAX_PAGES,
    fetch_group_members,
    fetch_groups,
    groups_cost_centers,
)
from creditlens.chargeback._table import (
    Chargeback,
    ChargebackCheck,
    build_chargeback,
    chargeback_note,
    has_usage,
    line_members,
    members_without_cost_center,
    monthly_trend,
    org_total_credits,
)

__all__ = [
    "CHECK_TOLERANCE",
    "COST_CENTER",
    "DEFAULT_GROUP_TAG",
    "DRILL_COLUMNS",
    "FILE",
    "FIXED_LINE_COLORS",
    "GROUPS",
    "GROUP_PAGE",
    "LINE_HELP",
    "LINE_KIND_LABELS",
    "LINE_LABELS",
    "MAX_COST_CENTER_CHARS",
    "MAX_MAPPING_BYTES",
    "MAX_MAPPING_ROWS",
    "MAX_PAGES",
    "NON_MEMBER_STATUSES",
    "NO_COST_CENTER",
    "OVERHEAD",
    "ROLE",
    "SOURCES",
    "SOURCE_LABELS",
    "TABLE_COLUMNS",
    "TOP_SERVICES",
    "UNATTRIBUTED",
    "USER_TYPE",
    "Chargeback",
    "ChargebackCheck",
    "CostCenterError",
    "CostCenters",
    "Group",
    "MappingReport",
    "RowIssue",
    "build_chargeback",
    "chargeback_note",
    "fetch_group_members",
    "fetch_groups",
    "from_groups",
    "from_mapping_csv",
    "from_member_field",
    "groups_cost_centers",
    "groups_with_tag",
    "has_usage",
    "line_members",
    "members_without_cost_center",
    "monthly_chart",
    "monthly_trend",
    "org_total_credits",
]
