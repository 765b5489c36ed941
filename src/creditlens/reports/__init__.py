"""Pure report functions over the tidy usage frame and the members frame. No I/O.

The app, the CLI and the tests all compute their numbers here, so a figure on screen, in a
download and in a test come from one place.

The public surface is this package; the topic modules behind it are private (``_leaderboard``,
``_trends``, ``_reconciliation``, ``_budgets``, ``_overview``, and ``_common`` for what they share).
"""

from creditlens.reports._budgets import (
    BudgetCounts,
    budget_alerts,
    budget_counts,
    budget_status,
)
from creditlens.reports._common import (
    CATEGORIES,
    CATEGORY_HELP,
    CATEGORY_LABELS,
    EVERYONE_ELSE,
    EXTERNAL,
    FORMER,
    LEADERBOARD_COLUMNS,
    MEMBER,
    NEAR_BUDGET_PCT,
    PUBLIC,
    UNATTRIBUTED,
    UNATTRIBUTED_LABEL,
    classify,
    per_user_totals,
)
from creditlens.reports._leaderboard import (
    TOP_COLUMNS,
    LeaderboardFilters,
    board_services,
    distinct_values,
    drilldown_options,
    filter_leaderboard,
    leaderboard,
    service_codes,
    service_names,
    service_pivot,
    top_members,
    usage_rows,
)
from creditlens.reports._overview import (
    OverviewKpis,
    overview_kpis,
    previous_period,
)
from creditlens.reports._reconciliation import (
    Reconciliation,
    TotalsCheck,
    reconcile_members,
    totals_check,
)
from creditlens.reports._trends import (
    GRANULARITIES,
    HOURLY_MAX_DAYS,
    TREND_BUCKET_COLUMNS,
    choose_granularity,
    member_trend,
    member_usage,
    period_buckets,
    resolve_granularity,
    service_trend,
    user_trend,
)

__all__ = [
    "CATEGORIES",
    "CATEGORY_HELP",
    "CATEGORY_LABELS",
    "EVERYONE_ELSE",
    "EXTERNAL",
    "FORMER",
    "GRANULARITIES",
    "HOURLY_MAX_DAYS",
    "LEADERBOARD_COLUMNS",
    "MEMBER",
    "NEAR_BUDGET_PCT",
    "PUBLIC",
    "TOP_COLUMNS",
    "TREND_BUCKET_COLUMNS",
    "UNATTRIBUTED",
    "UNATTRIBUTED_LABEL",
    "BudgetCounts",
    "LeaderboardFilters",
    "OverviewKpis",
    "Reconciliation",
    "TotalsCheck",
    "board_services",
    "budget_alerts",
    "budget_counts",
    "budget_status",
    "choose_granularity",
    "classify",
    "distinct_values",
    "drilldown_options",
    "filter_leaderboard",
    "leaderboard",
    "member_trend",
    "member_usage",
    "overview_kpis",
    "per_user_totals",
    "period_buckets",
    "previous_period",
    "reconcile_members",
    "resolve_granularity",
    "service_codes",
    "service_names",
    "service_pivot",
    "service_trend",
    "top_members",
    "totals_check",
    "usage_rows",
    "user_trend",
]
