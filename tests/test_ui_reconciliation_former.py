"""Reconciliation names a former member with what the archive's member snapshots saw (issue 11)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from creditlens import reports
from creditlens.ui import reconciliation

ORG = "ORG1"


def usage(*rows: tuple[str, str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": pd.to_datetime(["2026-03-01"] * len(rows)),
            "username": pd.Categorical([r[0] for r in rows]),
            "user_org_id": pd.Categorical([r[1] for r in rows]),
            "stype": pd.Categorical(["geocode"] * len(rows)),
            "etype": pd.Categorical(["geocodecnt"] * len(rows)),
            "credits": [r[2] for r in rows],
            "num": [1] * len(rows),
        }
    )


def members(*names: str) -> pd.DataFrame:
    frame = pd.DataFrame({"username": list(names)})
    for column in ("full_name", "role", "user_type"):
        frame[column] = ""
    frame["last_login"] = pd.NaT
    frame["disabled"] = False
    frame["assigned_credits"] = float("nan")
    frame["available_credits"] = float("nan")
    return frame


def test_a_former_member_gets_the_snapshot_name_and_last_seen_day():
    rec = reports.reconcile_members(
        usage(("ann", ORG, 5.0), ("Gone.User", ORG, 3.0), ("ext", "OTHER", 1.0)), members("ann"), ORG
    )
    former = pd.DataFrame({"username": ["gone.user"], "full_name": ["Gone User"], "last_seen": [dt.date(2026, 2, 27)]})
    table = reconciliation.non_member_table(rec, {}, former).set_index("username")
    assert table.loc["Gone.User", "category"] == "Former member"
    assert table.loc["Gone.User", "full_name"] == "Gone User"  # usernames match whatever their case
    assert table.loc["Gone.User", "last_seen"] == pd.Timestamp("2026-02-27")
    assert table.loc["ext", "full_name"] == "" and pd.isna(table.loc["ext", "last_seen"])  # only former members


def test_without_snapshots_the_columns_are_empty_not_guessed():
    rec = reports.reconcile_members(usage(("gone", ORG, 3.0)), members("ann"), ORG)
    table = reconciliation.non_member_table(rec, {}, None)
    assert table["full_name"].tolist() == [""] and table["last_seen"].isna().all()
