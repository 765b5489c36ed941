"""Pure report functions over the tidy usage frame and the members frame. No I/O.

The app, the CLI and the tests all compute their numbers here, so a figure on screen, in a
download and in a test come from one place.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditlens.services import STORAGE_STYPES, service_name

MEMBER, FORMER, EXTERNAL, PUBLIC, UNATTRIBUTED = "member", "former_member", "external", "public", "unattributed"
CATEGORIES = (MEMBER, FORMER, EXTERNAL, PUBLIC, UNATTRIBUTED)
CATEGORY_LABELS = {
    MEMBER: "Member",
    FORMER: "Former member",
    EXTERNAL: "External org",
    PUBLIC: "Public account",
    UNATTRIBUTED: "Unattributed",
}
CATEGORY_HELP = {
    MEMBER: "A current member of this organization.",
    FORMER: "Carries this organization's id but is no longer in the member list: the account was deleted "
    "or left, and its past usage is still billed here.",
    EXTERNAL: "A user of another organization who used this organization's apps or premium content, "
    "which this organization pays for.",
    PUBLIC: "A public ArcGIS account with no organization, for example a visitor of a public app that "
    "uses premium services through this organization.",
    UNATTRIBUTED: "Credits charged to the organization under no username, such as premium content "
    "reached through a proxy or an app's own credentials.",
}
UNATTRIBUTED_LABEL = "(unattributed)"
#: The series that sums every username outside the top N of a trend.
EVERYONE_ELSE = "Everyone else"
#: The leaderboard's fixed columns; one credits column per service follows them.
LEADERBOARD_COLUMNS = (
    "rank",
    "username",
    "full_name",
    "status",
    "role",
    "user_type",
    "credits",
    "share_pct",
    "num",
    "top_service",
    "budget_used_pct",
    "user_org_id",
)
NEAR_BUDGET_PCT = 90.0


# -- classification -------------------------------------------------------------------------------
def classify(usernames: pd.Series, user_org_ids: pd.Series, member_names: set[str], org_id: str) -> np.ndarray:
    """The reconciliation category of each (username, userOrgId) pair."""
    names = usernames.astype(str).to_numpy()
    orgs = user_org_ids.astype(str).to_numpy()
    lowered = np.char.lower(names.astype(str)) if len(names) else names
    is_member = np.isin(lowered, list(member_names)) if member_names else np.zeros(len(names), bool)
    return np.select(
        [names == "", is_member, orgs == "", orgs == org_id],
        [UNATTRIBUTED, MEMBER, PUBLIC, FORMER],
        default=EXTERNAL,
    )


def _member_names(members: pd.DataFrame) -> set[str]:
    return {str(u).lower() for u in members["username"]}


def per_user_totals(usage: pd.DataFrame, members: pd.DataFrame, org_id: str) -> pd.DataFrame:
    """Credits and operations per (username, user_org_id) with its category."""
    grouped = usage.groupby(["username", "user_org_id"], observed=True, as_index=False)[["credits", "num"]].sum()
    grouped["username"] = grouped["username"].astype(str)
    grouped["user_org_id"] = grouped["user_org_id"].astype(str)
    grouped["status"] = classify(grouped["username"], grouped["user_org_id"], _member_names(members), org_id)
    return grouped


# -- leaderboard ------------------------------------------------------------------------------------
def leaderboard(usage: pd.DataFrame, members: pd.DataFrame, org_id: str, include_idle: bool = True) -> pd.DataFrame:
    """Every username ranked by credits, with member details and one credits column per service."""
    totals = per_user_totals(usage, members, org_id)
    if include_idle:
        totals = pd.concat([totals, _idle_member_rows(totals, members, org_id)], ignore_index=True)
    grand = totals["credits"].sum()
    totals["share_pct"] = np.where(grand > 0, totals["credits"] / grand * 100 if grand else 0.0, 0.0)
    by_service = service_pivot(usage)
    totals = totals.merge(_top_service(usage), on=["username", "user_org_id"], how="left")
    details = _member_details(members)
    board = totals.merge(details, left_on=totals["username"].str.lower(), right_on="key", how="left")
    board = board.drop(columns=["key", "key_0"], errors="ignore")
    board = board.merge(by_service, on=["username", "user_org_id"], how="left")
    service_cols = list(by_service.columns[2:])
    board[service_cols] = board[service_cols].fillna(0.0)
    board["top_service"] = board["top_service"].fillna("")
    board["username"] = board["username"].where(board["username"] != "", UNATTRIBUTED_LABEL)
    board = board.sort_values(["credits", "num", "username"], ascending=[False, False, True], ignore_index=True)
    board.insert(0, "rank", np.arange(1, len(board) + 1))
    ordered = [*LEADERBOARD_COLUMNS, *service_cols]
    return board[ordered]


def _idle_member_rows(totals: pd.DataFrame, members: pd.DataFrame, org_id: str) -> pd.DataFrame:
    seen = set(totals.loc[totals["status"] == MEMBER, "username"].str.lower())
    idle = members[~members["username"].str.lower().isin(seen)]
    return pd.DataFrame(
        {
            "username": idle["username"].astype(str).to_numpy(),
            "user_org_id": org_id,
            "credits": 0.0,
            "num": 0,
            "status": MEMBER,
        }
    )


def _member_details(members: pd.DataFrame) -> pd.DataFrame:
    assigned = members["assigned_credits"]
    used = assigned - members["available_credits"]
    pct = np.where(assigned > 0, used / assigned.where(assigned > 0) * 100, np.nan)
    return pd.DataFrame(
        {
            "key": members["username"].str.lower(),
            "full_name": members["full_name"],
            "role": members["role"],
            "user_type": members["user_type"],
            "budget_used_pct": pct,
        }
    )


def _top_service(usage: pd.DataFrame) -> pd.DataFrame:
    per = usage.groupby(["username", "user_org_id", "stype"], observed=True, as_index=False)["credits"].sum()
    per = per[per["credits"] > 0].sort_values("credits", ascending=False, kind="stable")
    top = per.drop_duplicates(["username", "user_org_id"])
    return pd.DataFrame(
        {
            "username": top["username"].astype(str).to_numpy(),
            "user_org_id": top["user_org_id"].astype(str).to_numpy(),
            "top_service": [service_name(s) for s in top["stype"].astype(str)],
        }
    )


def service_pivot(usage: pd.DataFrame) -> pd.DataFrame:
    """Credits per (username, user_org_id) × service, services by human name, largest first."""
    per = usage.groupby(["username", "user_org_id", "stype"], observed=True, as_index=False)["credits"].sum()
    per["service"] = [service_name(s) for s in per["stype"].astype(str)]
    per["username"] = per["username"].astype(str)
    per["user_org_id"] = per["user_org_id"].astype(str)
    wide = per.pivot_table(
        index=["username", "user_org_id"], columns="service", values="credits", aggfunc="sum", fill_value=0.0
    )
    order = wide.sum().sort_values(ascending=False).index
    wide = wide[order]
    wide.columns = [str(c) for c in wide.columns]
    return wide.reset_index()


#: The top-members table's columns, in order.
TOP_COLUMNS = ("rank", "username", "full_name", "role", "user_type", "credits", "share_pct", "num", "top_service")


def top_members(board: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` current members who used the most credits, ranked 1..n among members."""
    members = board[(board["status"] == MEMBER) & (board["credits"] > 0)]
    top = members.head(n)[list(TOP_COLUMNS)].reset_index(drop=True)
    top["rank"] = np.arange(1, len(top) + 1)
    return top


@dataclass(frozen=True)
class LeaderboardFilters:
    statuses: tuple[str, ...] = ()  # category codes (CATEGORIES); empty = all
    roles: tuple[str, ...] = ()
    user_types: tuple[str, ...] = ()
    service: str | None = None  # a service code: only usernames with credits in it
    min_credits: float = 0.0
    search: str = ""  # case-insensitive, in username or full name


def filter_leaderboard(board: pd.DataFrame, filters: LeaderboardFilters) -> pd.DataFrame:
    """The rows of :func:`leaderboard` that pass every filter, in the board's order."""
    keep = np.ones(len(board), dtype=bool)
    if filters.statuses:
        keep &= board["status"].isin(filters.statuses).to_numpy()
    if filters.roles:
        keep &= board["role"].isin(filters.roles).to_numpy()
    if filters.user_types:
        keep &= board["user_type"].isin(filters.user_types).to_numpy()
    if filters.service:
        column = service_name(filters.service)
        keep &= (board[column] > 0).to_numpy() if column in board.columns else False
    if filters.min_credits and filters.min_credits > 0:
        keep &= (board["credits"] >= filters.min_credits).to_numpy()
    text = filters.search.strip().lower()
    if text:
        names = board["username"].astype(str).str.lower().str.contains(text, regex=False)
        full = board["full_name"].fillna("").astype(str).str.lower().str.contains(text, regex=False)
        keep &= (names | full).to_numpy()
    return board[keep].reset_index(drop=True)


def service_codes(usage: pd.DataFrame) -> list[str]:
    """Service codes present in the usage, most credits first."""
    if usage.empty:
        return []
    # Group the column itself: it is categorical, so this avoids one Python string per row on every rerun.
    totals = usage.groupby("stype", observed=True)["credits"].sum().sort_values(ascending=False)
    return [str(c) for c in totals.index]


def board_services(board: pd.DataFrame) -> list[str]:
    """The per-service credit columns of a leaderboard, largest first."""
    return [c for c in board.columns if c not in LEADERBOARD_COLUMNS]


def distinct_values(values: pd.Series) -> list[str]:
    """The sorted distinct non-empty text values of a column (a filter's options)."""
    return sorted({str(v) for v in values if isinstance(v, str) and v})


def drilldown_options(board: pd.DataFrame) -> list[str]:
    """Usernames with credits in the range, most credits first (the drill-down choices)."""
    return board.loc[board["credits"] > 0, "username"].astype(str).tolist()


# -- trends -----------------------------------------------------------------------------------------
# One rule for every chart's buckets (``period_buckets``): every bucket of the range is present (a
# bucket with no usage is zero, never skipped, so lines cannot bridge idle days), buckets are bounded
# by the range (a week that starts before the range is drawn from the range's first day), a bucket the
# range covers only in part is flagged ``partial``, and one that reaches into today (UTC) is flagged
# ``provisional``, because ArcGIS Online is still counting it.
GRANULARITIES = ("hour", "day", "week", "month")
#: Ranges up to this many days are charted by the hour (``period=1h``, see :mod:`creditlens.hourly`).
HOURLY_MAX_DAYS = 2
_STEPS = {
    "hour": pd.Timedelta(hours=1),
    "day": pd.Timedelta(days=1),
    "week": pd.Timedelta(days=7),
    "month": pd.DateOffset(months=1),
}
TREND_BUCKET_COLUMNS = ("period", "period_end", "shown_start", "shown_end", "partial", "provisional", "note")


def choose_granularity(start: dt.date, end: dt.date) -> str:
    """Days up to two months, weeks up to about a year, months beyond."""
    days = (end - start).days + 1
    if days <= 62:
        return "day"
    if days <= 366:
        return "week"
    return "month"


def resolve_granularity(choice: str | None, start: dt.date, end: dt.date) -> str:
    """The chart granularity: a day/week/month override, or automatic from the range length.

    Automatic is by the hour for ranges of two days or less (charted from hourly usage, see
    :mod:`creditlens.hourly`); hours are never used for longer ranges, unreadable and costly there.
    """
    if choice in ("day", "week", "month"):
        return choice
    if (end - start).days + 1 <= HOURLY_MAX_DAYS:
        return "hour"
    return choose_granularity(start, end)


def period_buckets(
    start: dt.date, end: dt.date, granularity: str, today: dt.date | dt.datetime | None = None
) -> pd.DataFrame:
    """Every bucket of ``start``..``end`` (UTC, inclusive), oldest first.

    ``period``/``period_end`` are the whole bucket (weeks start on Mondays, months on the 1st);
    ``shown_start``/``shown_end`` are its part inside the range, which is what a chart draws;
    ``partial`` says the range covers only part of it; ``provisional`` that it is not over by
    ``today``: a day means "anything reaching into that UTC day", a datetime (UTC) "anything ending
    after that moment", so an hourly chart of today marks only the hours not yet over.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    first, stop = pd.Timestamp(start), pd.Timestamp(end + dt.timedelta(days=1))
    anchor = first
    if granularity == "week":
        anchor = first - pd.Timedelta(days=first.weekday())
    elif granularity == "month":
        anchor = first.replace(day=1)
    freq = {"hour": "h", "day": "D", "week": "7D", "month": "MS"}[granularity]
    starts = pd.date_range(anchor, stop, freq=freq, inclusive="left")
    ends = starts + _STEPS[granularity]
    shown_start = np.maximum(starts, first)
    shown_end = np.minimum(ends, stop)
    frame = pd.DataFrame(
        {
            "period": starts,
            "period_end": ends,
            "shown_start": shown_start,
            "shown_end": shown_end,
            "partial": (shown_end - shown_start) < (ends - starts),
            "provisional": np.zeros(len(starts), dtype=bool)
            if today is None
            else np.asarray(shown_end > _utc_naive(today)),
        }
    )
    frame["note"] = [_bucket_note(row, granularity) for row in frame.itertuples(index=False)]
    return frame


def _utc_naive(moment: dt.date | dt.datetime) -> pd.Timestamp:
    """A day's UTC midnight, or a moment in UTC without its zone (the frames' times are naive UTC)."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def _bucket_note(bucket, granularity: str) -> str:
    """What a tooltip says about a partial or provisional bucket; empty for a whole, settled one."""
    notes = []
    if bucket.partial:
        covered = (bucket.shown_end - bucket.shown_start).days
        whole = (bucket.period_end - bucket.period).days
        notes.append(f"partial: {covered} of {whole} days in the range")
    if bucket.provisional:
        notes.append("provisional: still being counted")
    return "; ".join(notes)


def _usage_times(usage: pd.DataFrame, granularity: str) -> pd.Series:
    """The time of each usage row: its hour in an hourly frame, else its UTC day."""
    if "hour" in usage.columns:
        return usage["hour"]
    if granularity == "hour":
        raise ValueError("Hourly buckets need hourly usage (creditlens.hourly), not daily rows.")
    return usage["day"]


def _data_range(usage: pd.DataFrame, granularity: str) -> tuple[dt.date, dt.date] | None:
    times = _usage_times(usage, granularity)
    if times.empty:
        return None
    return times.min().date(), times.max().date()


def _bucket_index(times: pd.Series, buckets: pd.DataFrame) -> np.ndarray:
    """The bucket each time falls in, or -1 outside the range (buckets are contiguous and sorted)."""
    values = times.to_numpy(dtype="datetime64[ns]")
    if buckets.empty:
        return np.full(len(values), -1)
    index = np.searchsorted(buckets["period"].to_numpy(dtype="datetime64[ns]"), values, side="right") - 1
    first = buckets["shown_start"].iloc[0].to_datetime64()
    stop = buckets["shown_end"].iloc[-1].to_datetime64()
    return np.where((values >= first) & (values < stop), index, -1)


def _zero_filled(
    usage: pd.DataFrame,
    labels: pd.Series,
    column: str,
    granularity: str,
    start: dt.date | None,
    end: dt.date | None,
    today: dt.date | dt.datetime | None,
    order: list[str] | None = None,
) -> pd.DataFrame:
    """Credits per bucket × series label, with a row (zero when idle) for every pair."""
    if start is None or end is None:
        span = _data_range(usage, granularity)
        if span is None:
            return pd.DataFrame(columns=[*TREND_BUCKET_COLUMNS, column, "credits"])
        start, end = start or span[0], end or span[1]
    buckets = period_buckets(start, end, granularity, today)
    index = _bucket_index(_usage_times(usage, granularity), buckets)
    keep = index >= 0
    sums = (
        pd.DataFrame(
            {"bucket": index[keep], column: labels.to_numpy()[keep], "credits": usage["credits"].to_numpy()[keep]}
        )
        .groupby(["bucket", column], sort=False)["credits"]
        .sum()
    )
    names = order if order is not None else [str(n) for n in pd.unique(labels.to_numpy()[keep])]
    grid = pd.MultiIndex.from_product([range(len(buckets)), names], names=["bucket", column])
    filled = sums.reindex(grid, fill_value=0.0).reset_index()
    out = buckets.iloc[filled["bucket"].to_numpy()].reset_index(drop=True)
    out[column] = filled[column].to_numpy()
    out["credits"] = filled["credits"].to_numpy(dtype=float)
    return out


def service_trend(
    usage: pd.DataFrame,
    granularity: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    today: dt.date | dt.datetime | None = None,
) -> pd.DataFrame:
    """Credits per bucket and service: the stacked chart's data, zero-filled over the range.

    Without ``start``/``end`` the range is the usage's own first to last day. Columns: the bucket
    columns of :func:`period_buckets`, then ``service`` (human name), ``stype`` and ``credits``.
    """
    codes = usage["stype"].astype(str)
    totals = usage.groupby(codes, observed=True)["credits"].sum().sort_values(ascending=False, kind="stable")
    out = _zero_filled(usage, codes, "stype", granularity, start, end, today, [str(c) for c in totals.index])
    out.insert(len(TREND_BUCKET_COLUMNS), "service", [service_name(s) for s in out["stype"]])
    return out[[*TREND_BUCKET_COLUMNS, "service", "stype", "credits"]]


def user_trend(
    usage: pd.DataFrame,
    granularity: str,
    top_n: int = 5,
    start: dt.date | None = None,
    end: dt.date | None = None,
    today: dt.date | dt.datetime | None = None,
) -> pd.DataFrame:
    """Credits per bucket for the ``top_n`` usernames by credits, the rest summed as "Everyone else";
    zero-filled, so a user idle on a day is at zero that day."""
    names = usage["username"].astype(str)
    totals = usage.groupby(names, observed=True)["credits"].sum().sort_values(ascending=False, kind="stable")
    top = [str(n) for n in totals.index[:top_n]]
    label = names.where(names.isin(top), EVERYONE_ELSE).where(names != "", UNATTRIBUTED_LABEL)
    label = label.where(~((names == "") & ~names.isin(top)), EVERYONE_ELSE)
    order = [UNATTRIBUTED_LABEL if n == "" else n for n in top]
    if (~names.isin(top)).any():
        order.append(EVERYONE_ELSE)
    out = _zero_filled(usage, label, "user", granularity, start, end, today, order)
    return out[[*TREND_BUCKET_COLUMNS, "user", "credits"]]


def member_trend(
    usage: pd.DataFrame,
    username: str,
    granularity: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    today: dt.date | dt.datetime | None = None,
) -> pd.DataFrame:
    """One username's credits per bucket and service (the drill-down chart's data)."""
    key = "" if username == UNATTRIBUTED_LABEL else username
    return service_trend(usage[usage["username"].astype(str) == key], granularity, start, end, today)


def member_usage(usage: pd.DataFrame, username: str) -> pd.DataFrame:
    """One username's tidy rows with service names, newest first (the drill-down table)."""
    key = "" if username == UNATTRIBUTED_LABEL else username
    rows = usage[usage["username"].astype(str) == key]
    out = pd.DataFrame(
        {
            "day": rows["day"].to_numpy(),
            "service": [service_name(s) for s in rows["stype"].astype(str)],
            "stype": rows["stype"].astype(str).to_numpy(),
            "etype": rows["etype"].astype(str).to_numpy(),
            "credits": rows["credits"].to_numpy(),
            "num": rows["num"].to_numpy(),
        }
    )
    return out.sort_values(["day", "credits"], ascending=[False, False], ignore_index=True)


# -- reconciliation -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reconciliation:
    table: pd.DataFrame  # every username (with zero-usage members): username, status, user_org_id, credits, num
    summary: pd.DataFrame  # per category: status, label, usernames, credits
    idle_members: pd.DataFrame  # members with no credits in the range

    @property
    def non_members(self) -> pd.DataFrame:
        return self.table[self.table["status"] != MEMBER].reset_index(drop=True)


def reconcile_members(usage: pd.DataFrame, members: pd.DataFrame, org_id: str) -> Reconciliation:
    """Classify every username in the usage and list members with no usage in the range."""
    totals = per_user_totals(usage, members, org_id)
    idle_rows = _idle_member_rows(totals, members, org_id)
    zero_credit_members = totals[(totals["status"] == MEMBER) & (totals["credits"] <= 0)]
    table = pd.concat([totals, idle_rows], ignore_index=True)
    table["username"] = table["username"].where(table["username"] != "", UNATTRIBUTED_LABEL)
    table = table.sort_values(["credits", "username"], ascending=[False, True], ignore_index=True)
    table = table[["username", "status", "user_org_id", "credits", "num"]]
    summary = pd.DataFrame(
        {
            "status": list(CATEGORIES),
            "label": [CATEGORY_LABELS[c] for c in CATEGORIES],
            "usernames": [int((table["status"] == c).sum()) for c in CATEGORIES],
            "credits": [float(table.loc[table["status"] == c, "credits"].sum()) for c in CATEGORIES],
        }
    )
    idle_names = set(idle_rows["username"]) | set(zero_credit_members["username"])
    idle = members[members["username"].isin(idle_names)]
    idle = idle[["username", "full_name", "role", "user_type", "last_login", "disabled"]]
    return Reconciliation(table, summary, idle.sort_values("username", ignore_index=True))


# -- totals --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TotalsCheck:
    per_user: float  # credits with a username
    unattributed: float
    org_total: float  # from the org-wide query (grouped by service only)

    @property
    def difference(self) -> float:
        return self.per_user + self.unattributed - self.org_total

    @property
    def ok(self) -> bool:
        return abs(self.difference) <= max(1e-6 * abs(self.org_total), 1e-6)


def totals_check(usage: pd.DataFrame, org_totals: pd.DataFrame) -> TotalsCheck:
    named = usage["username"].astype(str) != ""
    return TotalsCheck(
        per_user=float(usage.loc[named, "credits"].sum()),
        unattributed=float(usage.loc[~named, "credits"].sum()),
        org_total=float(org_totals["credits"].sum()),
    )


# -- budgets ---------------------------------------------------------------------------------------------
def budget_status(members: pd.DataFrame, usage: pd.DataFrame) -> pd.DataFrame:
    """Members with a credit allocation: assigned, used, available, and credits spent in the range.

    Allocations cover transactions, not storage, so the range column leaves storage out.
    """
    allocated = members[members["assigned_credits"].notna()]
    in_range = usage[~usage["stype"].astype(str).isin(STORAGE_STYPES)]
    spent = in_range.groupby(in_range["username"].astype(str), observed=True)["credits"].sum()
    used = allocated["assigned_credits"] - allocated["available_credits"]
    frame = pd.DataFrame(
        {
            "username": allocated["username"].to_numpy(),
            "full_name": allocated["full_name"].to_numpy(),
            "user_type": allocated["user_type"].to_numpy(),
            "assigned": allocated["assigned_credits"].to_numpy(),
            "used": used.to_numpy(),
            "available": allocated["available_credits"].to_numpy(),
        }
    )
    frame["used_pct"] = np.where(frame["assigned"] > 0, frame["used"] / frame["assigned"] * 100, np.nan)
    frame["range_credits"] = frame["username"].map(spent).fillna(0.0).to_numpy()
    frame["state"] = np.select(
        [frame["used_pct"] >= 100, frame["used_pct"] >= NEAR_BUDGET_PCT], ["over", "near"], default="ok"
    )
    return frame.sort_values("used_pct", ascending=False, ignore_index=True)


@dataclass(frozen=True)
class BudgetCounts:
    members: int  # members with an allocation
    over: int
    near: int
    assigned: float  # credits assigned in all


def budget_counts(status: pd.DataFrame) -> BudgetCounts:
    """The Budgets page's headline counts, from :func:`budget_status`."""
    return BudgetCounts(
        members=len(status),
        over=int((status["state"] == "over").sum()),
        near=int((status["state"] == "near").sum()),
        assigned=float(status["assigned"].sum()),
    )


def budget_alerts(status: pd.DataFrame) -> pd.DataFrame:
    """Members over or near (≥ NEAR_BUDGET_PCT) their allocation, most used first."""
    return status[status["state"].isin(("over", "near"))].reset_index(drop=True)


# -- overview ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OverviewKpis:
    credits: float
    previous_credits: float | None  # None when the previous period was not loaded
    active_members: int
    non_member_credits: float
    available_credits: float | None

    @property
    def change_pct(self) -> float | None:
        if self.previous_credits is None or self.previous_credits == 0:
            return None
        return (self.credits - self.previous_credits) / self.previous_credits * 100


def overview_kpis(
    usage: pd.DataFrame,
    previous: pd.DataFrame | None,
    members: pd.DataFrame,
    org_id: str,
    available_credits: float | None,
) -> OverviewKpis:
    totals = per_user_totals(usage, members, org_id)
    members_active = totals[(totals["status"] == MEMBER) & (totals["credits"] > 0)]
    return OverviewKpis(
        credits=float(usage["credits"].sum()),
        previous_credits=None if previous is None else float(previous["credits"].sum()),
        active_members=len(members_active),
        non_member_credits=float(totals.loc[totals["status"] != MEMBER, "credits"].sum()),
        available_credits=available_credits,
    )


def previous_period(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The range of equal length just before ``start``..``end``."""
    length = (end - start).days + 1
    return start - dt.timedelta(days=length), start - dt.timedelta(days=1)


# -- tidy rows --------------------------------------------------------------------------------------------
def usage_rows(usage: pd.DataFrame) -> pd.DataFrame:
    """The tidy daily rows with the service's human name beside its code, in a stable order."""
    out = usage.copy()
    out.insert(out.columns.get_loc("stype") + 1, "service", [service_name(s) for s in usage["stype"].astype(str)])
    return out.sort_values(["day", "username", "stype", "etype"], ignore_index=True)
