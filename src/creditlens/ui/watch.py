"""The Watch page's data, tables and labels: the forecast, the spikes and what the alert rules fire now.

The page looks at the trailing 90 whole UTC days (and today's provisional usage, which the portal's
balance already has taken off), whatever range the sidebar shows: it is about now, not a period.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from creditlens import dates, fetching
from creditlens.errors import CreditLensError
from creditlens.portal import PortalConnection
from creditlens.ui import data
from creditlens.ui.common import EM_DASH, Metric, credits_column, fmt_credits, plain
from creditlens.ui.links import reserve_link_warnings
from creditlens.ui.state import View
from creditlens.watch import forecast, rules, spikes
from creditlens.watch.charts import balance_chart
from creditlens.watch.evaluate import Evaluation, alerts_frame, evaluate_rules

PARAMS = ()
SPIKE_DAYS = 30
RULES_ENV = "CREDITLENS_ALERT_RULES"
K_KEY, FLOOR_KEY = "wt_spike_k", "wt_spike_floor"

#: Shown on the demo org, which has no rules file: what a small set of rules would fire.
EXAMPLE_RULES = """
[[rule]]
name = "Heavy week"
scope = "member"
window = "7d"
credits_over = 250

[[rule]]
name = "Month so far"
scope = "org"
window = "mtd"
credits_over = 10000

[[rule]]
name = "Low balance"
scope = "org"
window = "1d"
balance_under = 20000

[[rule]]
name = "Near allocation"
scope = "member"
window = "30d"
pct_of_allocation_over = 90

[[rule]]
name = "Geocoding day"
scope = "service"
window = "1d"
credits_over = 300
only = ["geocode"]

[[rule]]
name = "Runaway"
scope = "member"
window = "7d"
spike = true
"""


@dataclass
class WatchData:
    identity_key: str  # portal URL|org id|username: what every cached result here is keyed by
    members: pd.DataFrame
    usage: fetching.UsageResult
    today: dt.date

    @property
    def as_of(self) -> dt.date:
        """The last whole UTC day: yesterday."""
        return self.today - dt.timedelta(days=1)

    @property
    def history_start(self) -> dt.date:
        return self.as_of - dt.timedelta(days=forecast.HISTORY_DAYS - 1)


def open_watch_page(view: View) -> None:
    """The title and a caption that says which days the page looks at (not the sidebar's range)."""
    today = dates.utc_today()
    as_of = today - dt.timedelta(days=1)
    first = as_of - dt.timedelta(days=forecast.HISTORY_DAYS - 1)
    st.title("Watch")
    st.caption(
        f"{plain(view.conn.org_name)} · the last {forecast.HISTORY_DAYS} whole days, "
        f"{first.isoformat()} – {as_of.isoformat()}, whatever range the sidebar shows · All dates are UTC"
    )
    reserve_link_warnings()


def load_watch_data(view: View) -> WatchData:
    """Members and the trailing 90 days plus today, from the identity's cache; errors are one line."""
    today = dates.utc_today()
    start = today - dt.timedelta(days=forecast.HISTORY_DAYS)
    with data.friendly_errors("Could not load data from the organization"):
        members = data.load_members(view.conn)
        usage = data.load_usage(view.conn, start, today, f"Loading the last {forecast.HISTORY_DAYS} days")
    return WatchData(view.identity_key, members, usage, today)


def incomplete_notice(watch: WatchData, view: View) -> None:
    """Nothing on this page is computed from a short history: say which windows are missing, offer a retry."""
    st.warning(
        f"{plain(watch.usage.warning())} The forecast, spikes and rules need every day, so they are not shown.",
        icon=":material/warning:",
    )
    st.button(
        "Retry missing windows",
        key="wt_retry",
        icon=":material/refresh:",
        on_click=data.bump_generation,
        args=(view.identity_key,),
    )


# -- forecast ---------------------------------------------------------------------------------------
def org_forecast(watch: WatchData, conn: PortalConnection) -> forecast.Forecast | None:
    balance = conn.available_credits
    if balance is None:
        return None
    expires = forecast.subscription_end(conn.org)
    return forecast.org_forecast(watch.usage.frame, balance, watch.as_of, expires, watch.usage.complete)


def forecast_metrics(f: forecast.Forecast, conn: PortalConnection) -> list[Metric]:
    p = f.projection
    expires = p.expires.isoformat() if p.expires else EM_DASH
    return [
        Metric("Available credits now", fmt_credits(conn.available_credits), help="As ArcGIS Online reports it now."),
        Metric(
            "Credits used a day",
            fmt_credits(p.mean_daily_burn),
            help=f"Average credits a day over the last {f.history_days} whole days.",
        ),
        Metric("Credits run out", runout_value(p), help=p.describe()),
        Metric("Subscription ends", expires),
    ]


def runout_value(p: forecast.Projection) -> str:
    """The metric card's value: a date, or why there is none."""
    if p.outcome == forecast.RUNS_OUT:
        return f"≈ {p.runout.isoformat()}"
    return {
        forecast.AFTER_EXPIRY: "Not before the subscription ends",
        forecast.BEYOND_HORIZON: "Not within 2 years",
        forecast.NO_BURN: "Not at this pace",
        forecast.USED_UP: "Already used up",
    }[p.outcome]


def forecast_chart(f: forecast.Forecast):
    """The balance chart (a pure Altair spec from the library)."""
    return balance_chart(f)


def assumption(f: forecast.Forecast) -> str:
    """What the forecast assumes, in one sentence."""
    return forecast.assumption(f.history_days)


MEMBER_OUTCOMES = {
    forecast.USED_UP: "Used up",
    forecast.RUNS_OUT: "Runs out",
    forecast.AFTER_EXPIRY: "Lasts the subscription",
    forecast.BEYOND_HORIZON: "Lasts 2+ years",
    forecast.NO_BURN: "No recent use",
}


@st.cache_data(ttl=data.CACHE_TTL_S, max_entries=data.CACHE_ENTRIES, show_spinner=False)
def _member_forecasts_cached(
    identity_key: str, generation: int, as_of: dt.date, expires: dt.date | None, _members, _usage
) -> pd.DataFrame:
    return forecast.member_forecasts(_members, _usage, as_of, expires)


@st.cache_data(ttl=data.CACHE_TTL_S, max_entries=data.CACHE_ENTRIES, show_spinner=False)
def _spikes_cached(
    identity_key: str, generation: int, first: dt.date, last: dt.date, k: float, floor: float, _usage
) -> pd.DataFrame:
    return spikes.find_spikes(_usage, first, last, spikes.SpikeSettings(k=k, floor=floor))


@st.cache_data(ttl=data.CACHE_TTL_S, max_entries=data.CACHE_ENTRIES, show_spinner=False)
def _evaluation_cached(
    identity_key: str,
    generation: int,
    today: dt.date,
    rules_key: str,
    org_id: str,
    balance: float | None,
    _rules,
    _watch,
) -> Evaluation:
    return evaluate_rules(_rules, _watch.usage.frame, _watch.members, org_id, today, balance, _watch.usage.complete)


def member_table(watch: WatchData, expires: dt.date | None) -> pd.DataFrame:
    """Members with an allocation: when they reach it, the soonest first (cached per identity and data)."""
    key = watch.identity_key
    frame = _member_forecasts_cached(
        key, data.generation(key), watch.as_of, expires, watch.members, watch.usage.frame
    ).copy()
    frame["outcome"] = frame["outcome"].map(MEMBER_OUTCOMES)
    for column in ("runout", "runout_earliest", "runout_latest"):
        frame[column] = pd.to_datetime(frame[column])
    return frame.drop(columns=["when"])


MEMBER_CONFIG = {
    "username": st.column_config.TextColumn("Username", pinned=True),
    "full_name": st.column_config.TextColumn("Full name"),
    "assigned": credits_column("Assigned", "Credits allocated to the member"),
    "available": credits_column("Left", "Allocation left now"),
    "daily_burn": credits_column("Credits used a day", "Average transaction credits a day over the last 90 whole days"),
    "outcome": st.column_config.TextColumn("Outlook"),
    "runout": st.column_config.DateColumn("Runs out around", format="YYYY-MM-DD"),
    "runout_earliest": st.column_config.DateColumn("Earliest (90 %)", format="YYYY-MM-DD"),
    "runout_latest": st.column_config.DateColumn("Latest (90 %)", format="YYYY-MM-DD"),
}


# -- spikes -----------------------------------------------------------------------------------------
def spike_settings_inputs(defaults: spikes.SpikeSettings) -> spikes.SpikeSettings:
    """The detector's k and floor, next to each other."""
    st.session_state.setdefault(K_KEY, float(defaults.k))
    st.session_state.setdefault(FLOOR_KEY, float(defaults.floor))
    left, right = st.columns(2)
    k = left.number_input(
        "Sensitivity k (MADs above the median)",
        min_value=0.5,
        max_value=50.0,
        step=0.5,
        key=K_KEY,
        help="Lower flags more days. A day must pass the member's median + k × MAD of their previous 30 days.",
    )
    floor = right.number_input(
        "Floor (credits in a day)",
        min_value=0.0,
        max_value=1_000_000.0,
        step=5.0,
        key=FLOOR_KEY,
        help="Days below this are never spikes, so small users do not flag.",
    )
    return spikes.SpikeSettings(k=float(k), floor=float(floor))


def spike_table(watch: WatchData, settings: spikes.SpikeSettings) -> pd.DataFrame:
    """Flagged member × service days of the last 30 days, newest first, with what drove them and a link."""
    first = watch.as_of - dt.timedelta(days=SPIKE_DAYS - 1)
    key = watch.identity_key
    flagged = _spikes_cached(
        key, data.generation(key), first, watch.as_of, settings.k, settings.floor, watch.usage.frame
    )
    if flagged.empty:
        return pd.DataFrame(columns=list(SPIKE_CONFIG))
    out = pd.DataFrame(
        {
            "day": pd.to_datetime(flagged["day"]),
            "username": flagged["username"],
            "service": flagged["service"],
            "credits": flagged["credits"],
            "operations": spikes.spike_operations(watch.usage.frame, flagged).to_numpy(),
            "baseline": flagged["baseline"],
            "threshold": flagged["threshold"],
            "kind": flagged["kind"].str.capitalize(),
            "link": [drilldown_link(u, d) for u, d in zip(flagged["username"], flagged["day"], strict=True)],
        }
    )
    return out


def drilldown_link(username: str, day: pd.Timestamp) -> str:
    """The Trends page's drill-down into one member, over the 30 days ending on the spike (URL-encoded)."""
    end = pd.Timestamp(day).date()
    start = end - dt.timedelta(days=SPIKE_DAYS - 1)
    return "./trends?" + urlencode({"start": start.isoformat(), "end": end.isoformat(), "user": str(username)})


SPIKE_CONFIG = {
    "day": st.column_config.DateColumn("Day (UTC)", format="YYYY-MM-DD", pinned=True),
    "username": st.column_config.TextColumn("Username"),
    "service": st.column_config.TextColumn("Service"),
    "credits": credits_column("Credits that day"),
    "operations": st.column_config.TextColumn("Operations", help="Usage type × count on that day"),
    "baseline": credits_column("Median day", "The member's median day of this service in the previous 30 days"),
    "threshold": credits_column("Spike line", "Median + k × MAD, or the floor when that is higher"),
    "kind": st.column_config.TextColumn("Kind", help="First use: the member had not used this service in 30 days"),
    "link": st.column_config.LinkColumn("Drill-down", display_text="Open in Trends"),
}


def spike_defaults(configured: ConfiguredRules) -> spikes.SpikeSettings:
    """The rules file's ``[spikes]`` settings when there is one, else the detector's defaults."""
    return configured.rules.spikes if configured.rules else spikes.SpikeSettings()


# -- rules ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfiguredRules:
    rules: rules.RuleSet | None
    source: str  # where they came from, for the caption
    error: str | None = None
    example: bool = False


def configured_rules(conn: PortalConnection) -> ConfiguredRules:
    """The rules file from ``[creditlens] alert_rules`` or the environment; the demo's examples otherwise."""
    try:
        section = st.secrets.get("creditlens") or {}
    except FileNotFoundError:  # no secrets.toml
        section = {}
    path = section.get("alert_rules") or os.environ.get(RULES_ENV)
    if path:
        try:
            return ConfiguredRules(rules.load_rules(Path(str(path))), f"the rules in {path}")
        except CreditLensError as exc:
            return ConfiguredRules(None, str(path), error=str(exc))
    if conn.identity.portal_url.startswith("demo://"):
        return ConfiguredRules(
            rules.parse_rules(EXAMPLE_RULES), "example rules (the demo org has none of its own)", example=True
        )
    return ConfiguredRules(None, "")


def evaluate(watch: WatchData, ruleset: rules.RuleSet, conn: PortalConnection) -> Evaluation:
    """What the rules fire on this data now (cached per identity, data generation, day and rules)."""
    key = watch.identity_key
    return _evaluation_cached(
        key,
        data.generation(key),
        watch.today,
        repr(ruleset),
        conn.identity.org_id,
        conn.available_credits,
        ruleset,
        watch,
    )


CONDITION_LABELS = {
    "credits_over": "credits over",
    "pct_of_allocation_over": "% of allocation over",
    "balance_under": "balance under",
    "spike": "spike",
}


def rules_overview(ruleset: rules.RuleSet, evaluation: Evaluation) -> pd.DataFrame:
    """One row per rule: what it watches and how many alerts it would fire now."""
    fired = evaluation.alerts_per_rule()
    rows = []
    for rule in ruleset.rules:
        condition = next(c for c in rules.CONDITIONS if getattr(rule, c) not in (None, False))
        value = getattr(rule, condition)
        rows.append(
            {
                "rule": rule.name,
                "scope": rule.scope,
                "window": rule.window,
                "condition": CONDITION_LABELS[condition] + ("" if condition == "spike" else f" {value:,.0f}"),
                "only": ", ".join(rule.only),
                "fires": fired.get(rule.name, 0),
            }
        )
    return pd.DataFrame(rows)


RULES_CONFIG = {
    "rule": st.column_config.TextColumn("Rule", pinned=True),
    "scope": st.column_config.TextColumn("Scope"),
    "window": st.column_config.TextColumn("Window", help="1d, 7d, 30d or mtd: whole UTC days ending yesterday"),
    "condition": st.column_config.TextColumn("Fires when"),
    "only": st.column_config.TextColumn("Only"),
    "fires": st.column_config.NumberColumn("Alerts now", format="%d"),
}


def alerts_table(evaluation: Evaluation) -> pd.DataFrame:
    frame = alerts_frame(evaluation.alerts)
    for column in ("window_start", "window_end"):
        frame[column] = pd.to_datetime(frame[column])
    frame["condition"] = frame["condition"].map(CONDITION_LABELS)
    frame["subject"] = frame["subject"].where(frame["scope"] != rules.ORG, "Whole organization")
    return frame


ALERTS_CONFIG = {
    "rule": st.column_config.TextColumn("Rule", pinned=True),
    "scope": st.column_config.TextColumn("Scope"),
    "subject": st.column_config.TextColumn("Who or what"),
    "window_start": st.column_config.DateColumn("From", format="YYYY-MM-DD"),
    "window_end": st.column_config.DateColumn("To", format="YYYY-MM-DD"),
    "credits": credits_column("Credits"),
    "threshold": credits_column("Threshold"),
    "condition": st.column_config.TextColumn("Condition"),
    "detail": st.column_config.TextColumn("Detail"),
}
