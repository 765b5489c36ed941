"""Which rules fire on fresh usage: pure functions over the tidy usage and members frames.

Window figures come from :mod:`creditlens.reports` (the leaderboard for members), so an alert's
credits equal what the Leaderboard shows for the same days.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from creditlens import reports
from creditlens.services import service_name
from creditlens.watch.rules import MEMBER, ORG, SERVICE, Rule, RuleSet
from creditlens.watch.spikes import SpikeSettings, find_spikes

ALERT_FIELDS = ("rule", "scope", "subject", "window_start", "window_end", "credits", "threshold")


@dataclass(frozen=True)
class Alert:
    rule: str
    scope: str
    subject: str  # username, service code, cost center, or "org"
    window_start: dt.date
    window_end: dt.date
    credits: float
    threshold: float
    condition: str  # which key fired: credits_over, pct_of_allocation_over, balance_under, spike
    detail: str = ""  # for people: the service of a spike, the allocation, the balance

    @property
    def key(self) -> str:
        """What makes two alerts the same alert: never sent twice."""
        return "|".join(
            (self.rule, self.scope, self.subject, self.window_start.isoformat(), self.window_end.isoformat())
        )

    def as_record(self) -> dict:
        """The JSON form: the issue's fields first, then condition and detail."""
        record = asdict(self)
        record["window_start"] = self.window_start.isoformat()
        record["window_end"] = self.window_end.isoformat()
        record["credits"] = round(self.credits, 6)
        record["threshold"] = round(self.threshold, 6)
        return {k: record[k] for k in (*ALERT_FIELDS, "condition", "detail")}

    def describe(self) -> str:
        """One plain line for a person (text output, email, chat)."""
        who = "the org" if self.scope == ORG else f"{self.scope} {self.subject}"
        days = _window_label(self.window_start, self.window_end)
        extra = f" ({self.detail})" if self.detail else ""
        if self.condition == "balance_under":
            what = f"{self.credits:,.2f} credits left, under {self.threshold:,.2f}, on {days}"
        elif self.condition == "pct_of_allocation_over":
            what = f"has used {self.credits:,.2f} credits of its allocation, over {self.threshold:,.2f}, by {days}"
        elif self.condition == "spike":
            what = f"spiked to {self.credits:,.2f} credits on {days}, above its spike line of {self.threshold:,.2f}"
        else:
            what = f"used {self.credits:,.2f} credits in {days}, over {self.threshold:,.2f}"
        return f"[{self.rule}] {who} {what}{extra}"


@dataclass(frozen=True)
class Evaluation:
    alerts: list[Alert]
    problems: list[str] = field(default_factory=list)  # rules that could not be checked, and why
    complete: bool = True  # False when some usage did not load: never treat the result as final

    def alerts_per_rule(self) -> dict[str, int]:
        """How many alerts each rule fires now, by rule name (a rule that fires none is left out)."""
        return dict(Counter(a.rule for a in self.alerts))


def _window_label(start: dt.date, end: dt.date) -> str:
    return start.isoformat() if start == end else f"{start.isoformat()} – {end.isoformat()}"


def fetch_range(rules: RuleSet, today: dt.date) -> tuple[dt.date, dt.date]:
    """The whole UTC days every rule needs, baselines included, ending yesterday."""
    end = today - dt.timedelta(days=1)
    starts = [
        r.window_days(today)[0] - dt.timedelta(days=rules.spikes.baseline_days if r.spike else 0) for r in rules.rules
    ]
    return min(starts, default=end), end


def evaluate_rules(
    rules: RuleSet,
    usage: pd.DataFrame,
    members: pd.DataFrame,
    org_id: str,
    today: dt.date,
    balance: float | None,
    complete: bool = True,
) -> Evaluation:
    """Every alert the rules fire on ``usage`` (which must cover :func:`fetch_range`)."""
    alerts: list[Alert] = []
    problems: list[str] = []
    for rule in rules.rules:
        start, end = rule.window_days(today)
        try:
            alerts.extend(_fire(rule, usage, members, org_id, start, end, balance, rules.spikes))
        except RuleProblem as exc:
            problems.append(f'rule "{rule.name}": {exc}')
    return Evaluation(alerts, problems, complete)


class RuleProblem(Exception):
    """A rule that cannot be checked on this org (no balance reported, a bad cost-center file)."""


def in_window(usage: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    days = pd.to_datetime(usage["day"]).dt.normalize()
    return usage[(days >= pd.Timestamp(start)) & (days <= pd.Timestamp(end))]


def _fire(rule: Rule, usage, members, org_id, start, end, balance, spikes: SpikeSettings) -> list[Alert]:
    def alert(subject: str, credits: float, threshold: float, condition: str, detail: str = "", day=None) -> Alert:
        first, last = (day, day) if day is not None else (start, end)
        return Alert(rule.name, rule.scope, subject, first, last, float(credits), float(threshold), condition, detail)

    if rule.spike:
        return [
            alert(subject, credits, threshold, "spike", detail, day)
            for subject, day, credits, threshold, detail in _spikes(rule, usage, members, org_id, start, end, spikes)
        ]
    if rule.balance_under is not None:
        if balance is None:
            raise RuleProblem(
                "the portal does not report the org's available credits, so balance_under cannot be checked"
            )
        if balance < rule.balance_under:
            return [alert("org", balance, rule.balance_under, "balance_under", "the portal's available credits now")]
        return []
    if rule.pct_of_allocation_over is not None:
        return [
            alert(
                row.username,
                row.used,
                row.assigned * rule.pct_of_allocation_over / 100,
                "pct_of_allocation_over",
                f"{row.used_pct:.0f} % of an allocation of {row.assigned:,.0f}",
            )
            for row in _allocation_rows(rule, members, usage).itertuples()
        ]
    totals = scope_totals(rule, in_window(usage, start, end), members, org_id)
    over = totals[totals["credits"] > rule.credits_over]
    return [alert(r.subject, r.credits, rule.credits_over, "credits_over", r.detail) for r in over.itertuples()]


def scope_totals(rule: Rule, window_usage: pd.DataFrame, members: pd.DataFrame, org_id: str) -> pd.DataFrame:
    """subject, credits, detail for every subject of the rule's scope in the window (``only`` applied)."""
    if rule.scope == ORG:
        frame = pd.DataFrame({"subject": ["org"], "credits": [float(window_usage["credits"].sum())], "detail": [""]})
    elif rule.scope == MEMBER:
        board = reports.leaderboard(window_usage, members, org_id, include_idle=False)
        board = board[board["status"] == reports.MEMBER]
        frame = pd.DataFrame(
            {"subject": board["username"], "credits": board["credits"], "detail": board["full_name"].fillna("")}
        )
    elif rule.scope == SERVICE:
        per = window_usage.groupby(window_usage["stype"].astype(str), observed=True)["credits"].sum()
        frame = pd.DataFrame(
            {"subject": per.index, "credits": per.to_numpy(), "detail": [service_name(s) for s in per.index]}
        )
    else:
        frame = _cost_center_totals(rule, window_usage, members, org_id)
    frame = frame.reset_index(drop=True)
    if rule.only:
        wanted = {o.lower() for o in rule.only}
        frame = frame[frame["subject"].astype(str).str.lower().isin(wanted)]
    return frame.sort_values(["credits", "subject"], ascending=[False, True], ignore_index=True)


def _cost_center_totals(rule: Rule, window_usage, members, org_id) -> pd.DataFrame:
    from creditlens import chargeback
    from creditlens.money import Pricing

    source = rule.cost_centers or ""
    try:
        if source in (chargeback.ROLE, chargeback.USER_TYPE):
            centers = chargeback.from_member_field(members, source)
        else:
            centers = chargeback.from_mapping_csv(Path(source).read_bytes(), members)
    except OSError as exc:
        raise RuleProblem(f"the cost center file {source} could not be read ({exc.strerror})") from None
    except chargeback.CostCenterError as exc:
        raise RuleProblem(str(exc)) from None
    table = chargeback.build_chargeback(window_usage, members, org_id, centers, Pricing()).table
    lines = table[table["line_kind"] == chargeback.COST_CENTER]
    return pd.DataFrame({"subject": lines["cost_center"].astype(str), "credits": lines["credits"], "detail": ""})


def _allocation_rows(rule: Rule, members: pd.DataFrame, usage: pd.DataFrame) -> pd.DataFrame:
    status = reports.budget_status(members, usage)
    over = status[status["used_pct"] > rule.pct_of_allocation_over]
    if rule.only:
        over = over[over["username"].str.lower().isin({o.lower() for o in rule.only})]
    return over


def _spikes(rule: Rule, usage, members, org_id, start, end, settings: SpikeSettings):
    """(subject, day, credits, threshold, detail) of each spike the rule's scope has in its window."""
    if rule.scope == ORG:
        flagged = find_spikes(usage.assign(subject="org"), start, end, settings, keys=("subject",))
        rows = [("org", r.day, r.credits, r.threshold, "the org's total") for r in flagged.itertuples()]
    elif rule.scope == SERVICE:
        flagged = find_spikes(usage, start, end, settings, keys=("stype",))
        rows = [(r.stype, r.day, r.credits, r.threshold, service_name(r.stype)) for r in flagged.itertuples()]
    elif rule.scope == MEMBER:
        flagged = find_spikes(usage, start, end, settings)
        names = {str(u).lower() for u in members["username"]}
        flagged = flagged[flagged["username"].str.lower().isin(names)]
        rows = _per_member_day(flagged)
    else:  # rules.py refuses spike rules of other scopes
        raise RuleProblem(f"spike rules do not work with scope {rule.scope}")
    if rule.only:
        wanted = {o.lower() for o in rule.only}
        rows = [r for r in rows if str(r[0]).lower() in wanted]
    return [(s, pd.Timestamp(d).date(), float(c), float(t), detail) for s, d, c, t, detail in rows]


def _per_member_day(flagged: pd.DataFrame) -> list[tuple]:
    """One alert per member and day: a member spiking on two services that day gets one message."""
    rows = []
    for (username, day), group in flagged.groupby(["username", "day"], sort=False):
        parts = [f"{r.service}: {r.credits:,.2f} credits, {r.num:,} operations ({r.kind})" for r in group.itertuples()]
        rows.append((username, day, group["credits"].sum(), group["threshold"].sum(), "; ".join(parts)))
    return rows


def alerts_frame(alerts: list[Alert]) -> pd.DataFrame:
    """The alerts as a table (the page and text output), the issue's columns first."""
    records = [a.as_record() for a in alerts]
    return pd.DataFrame(records, columns=[*ALERT_FIELDS, "condition", "detail"])
