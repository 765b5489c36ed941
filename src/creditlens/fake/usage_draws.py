"""The demo org's usage draws: who uses which service on which day, and the sparse ledger they make.

A mixin of the org builder in :mod:`creditlens.fake.demo_org`: it draws from the builder's
generator ``self.rng`` in a fixed order, so the same spec always makes the same ledger.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditlens.fake.names import synthetic_id

#: Transaction services: (stype, etype, share of eligible members, daily probability,
#: median units per active day, credits per unit).
_TRANSACTIONS = (
    ("geocode", "geocodecnt", 0.35, 0.08, 150, 0.04),
    ("nasimpleroute", "svcusg", 0.15, 0.10, 60, 0.005),
    ("naservicearea", "svcusg", 0.08, 0.04, 20, 0.5),
    ("nacfroute", "svcusg", 0.05, 0.03, 10, 0.5),
    ("navrproute", "svcusg", 0.03, 0.02, 25, 1.0),
    ("geoenrich", "svcusg", 0.08, 0.03, 1500, 0.01),
    ("spanalysis", "svcusg", 0.20, 0.05, 4000, 0.001),
    ("intnotebks", "svcusg", 0.04, 0.06, 2, 30.0),
    ("tiles", "tilegencnt", 0.05, 0.01, 20_000, 0.001),
    ("imageryanalysis", "svcusg", 0.04, 0.03, 300, 0.01),  # a code not in our catalog: shown raw
    ("applogin", "svcusg", 0.40, 0.20, 2, 0.0),
)

#: Storage services: (stype, share of content owners, median size, credits per unit per day).
_STORAGE = (
    ("features", 1.00, 40.0, 2.4 / 10 / 30.4),  # MB; 2.4 credits per 10 MB per month
    ("tiles", 0.30, 1.5, 1.2 / 30.4),  # GB; 1.2 credits per GB per month
    ("portal", 0.20, 0.8, 1.2 / 30.4),  # GB of files
)


@dataclass
class UsageLedger:
    """Sparse daily usage: ``series`` holds the keys, the entry arrays hold (series, day, value)."""

    series: pd.DataFrame  # columns username, userOrgId, stype, etype ("" where absent)
    entry_series: np.ndarray  # int32 index into ``series``
    entry_day: np.ndarray  # int32 day offset from the org's first day
    entry_credits: np.ndarray  # float64
    entry_num: np.ndarray  # int64


class UsageDraws:
    """Usage-drawing steps of ``_OrgBuilder`` (which sets ``spec``, ``rng``, ``org_id``, ``day_weight``,
    ``blocks``, ``truth``, ``member_frame`` and ``member_start_day`` before they run)."""

    def _add_block(self, keys: pd.DataFrame, series_of: np.ndarray, day: np.ndarray, credits, num) -> None:
        self.blocks.append((keys, series_of, day, np.asarray(credits, float), np.asarray(num, np.int64)))

    def _transactions(
        self,
        users: pd.DataFrame,
        activity: np.ndarray,
        start_day: np.ndarray,
        end_day: np.ndarray,
        services: tuple = _TRANSACTIONS,
        share_scale: float = 1.0,
    ) -> None:
        """Bursty daily usage: active on random (mostly week-) days, lognormal amounts."""
        rng, days = self.rng, self.spec.days
        for stype, etype, share, p_day, median, rate in services:
            takes = rng.random(len(users)) < min(share * share_scale, 1.0)
            idx = np.flatnonzero(takes)
            if idx.size == 0:
                continue
            p = np.clip(p_day * np.sqrt(activity[idx]), 0, 0.9)[:, None] * self.day_weight[None, :]
            active = rng.random((idx.size, days)) < p
            alive = (np.arange(days)[None, :] >= start_day[idx, None]) & (
                np.arange(days)[None, :] <= end_day[idx, None]
            )
            row, day = np.nonzero(active & alive)
            units = np.maximum(1, np.round(rng.lognormal(np.log(median), 0.9, row.size) * activity[idx][row]))
            keys = users.iloc[idx][["username", "userOrgId"]].assign(stype=stype, etype=etype)
            self._add_block(keys.reset_index(drop=True), row, day, units * rate, units)

    def _storage(self, owners: pd.DataFrame, start_day: np.ndarray) -> None:
        """Storage accrues every day from when the owner joined, growing slowly."""
        rng, days = self.rng, self.spec.days
        for stype, share, median, rate in _STORAGE:
            idx = np.flatnonzero(rng.random(len(owners)) < share)
            if idx.size == 0:
                continue
            size0 = rng.lognormal(np.log(median), 1.1, idx.size)
            growth = rng.uniform(0.0, 0.003, idx.size)
            t = np.arange(days)[None, :]
            alive = t >= start_day[idx, None]
            size = size0[:, None] * (1 + growth[:, None] * np.maximum(t - start_day[idx, None], 0))
            row, day = np.nonzero(alive)
            keys = owners.iloc[idx][["username", "userOrgId"]].assign(stype=stype, etype="stg")
            self._add_block(keys.reset_index(drop=True), row, day, size[row, day] * rate, np.zeros(row.size))

    def _member_usage(self) -> None:
        frame, rng, days = self.member_frame, self.rng, self.spec.days
        n = len(frame)
        users = frame.assign(userOrgId=self.org_id)
        activity = rng.lognormal(0, 0.8, n)
        heavy = rng.choice(np.arange(3, n), size=min(4, n - 3), replace=False)
        activity[heavy] *= 15
        # Viewers cannot spend credits; disabled and never-signed-in members are idle; and a
        # slice of the rest is dormant, so some members show zero usage in a typical range.
        idle = (frame["user_type"] == "viewerUT") | frame["disabled"] | frame["never"] | (rng.random(n) < 0.08)
        idle[:2] = False
        busy = ~idle.to_numpy()
        active = users[busy].reset_index(drop=True)
        self._transactions(active, activity[busy], self.member_start_day[busy], np.full(len(active), days - 1))
        owner_mask = frame["role"].isin(["org_admin", "org_publisher"]) | (rng.random(n) < 0.25)
        owner_mask &= frame["user_type"] != "viewerUT"
        owns = owner_mask.to_numpy()
        owners = users[owns].reset_index(drop=True)
        first_upload = self.member_start_day[owns] + rng.integers(0, max(days // 3, 1), owns.sum())
        self._storage(owners, np.minimum(first_upload, days - 1))

    def _outsiders(self) -> None:
        """The usernames the usage endpoint returns that are not members: the forum's complaint."""
        spec, rng, days = self.spec, self.rng, self.spec.days
        self.external_org_ids = (synthetic_id(f"ext1:{spec.seed}"), synthetic_id(f"ext2:{spec.seed}"))
        n_ext = max(3, spec.members // 40)
        web = tuple(s for s in _TRANSACTIONS if s[0] in {"geocode", "nasimpleroute", "geoenrich", "applogin"})
        for k, (ext_id, key) in enumerate(zip(self.external_org_ids, ("harborcity", "ridgeway"), strict=True)):
            first, last = self._names(n_ext, rng)
            names = self._unique_usernames(first, last, key)
            people = pd.DataFrame({"username": names, "userOrgId": ext_id})
            self._outsider_usage(people, web, f"external:{k}")
        n_pub = max(3, spec.members // 60)
        handles = [
            f"{rng.choice(['mapfan', 'geo', 'trailrunner', 'cartonerd', 'hiker'])}_{1950 + i * 7 % 60}{i}"
            for i in range(n_pub)
        ]
        self._outsider_usage(pd.DataFrame({"username": handles, "userOrgId": ""}), web, "public")
        n_former = max(3, spec.members // 50)
        first, last = self._names(n_former, rng)
        former = pd.DataFrame(
            {"username": self._unique_usernames(first, last, f"{spec.url_key}x"), "userOrgId": self.org_id}
        )
        # Former members stop at the day they left: one recently, the others spread back in time.
        left = np.sort(rng.integers(0, days, n_former))
        left[-1] = days - 1 - min(5, days - 1)
        for name in former["username"]:
            self.truth[name] = "former_member"
        self._transactions(former, rng.lognormal(0.0, 0.5, n_former), np.zeros(n_former, int), left, share_scale=1.5)
        unattributed = pd.DataFrame({"username": [""], "userOrgId": [self.org_id]})
        self.truth[""] = "unattributed"
        premium = (("geoenrich", "svcusg", 1.0, 0.3, 800, 0.01), ("demogmaps", "svcusg", 1.0, 0.2, 40, 0.1))
        self._transactions(unattributed, np.ones(1), np.zeros(1, int), np.full(1, days - 1), premium)

    def _outsider_usage(self, people: pd.DataFrame, services: tuple, category: str) -> None:
        n, days = len(people), self.spec.days
        for name in people["username"]:
            self.truth[name] = category.split(":")[0]
        # Every outsider gets at least one geocoding series so each category has usage.
        forced = (("geocode", "geocodecnt", 1.0, 0.15, 40, 0.04), *services)
        self._transactions(people, self.rng.lognormal(0, 0.6, n), np.zeros(n, int), np.full(n, days - 1), forced)

    def _ledger(self) -> UsageLedger:
        keys = pd.concat([b[0] for b in self.blocks], ignore_index=True)
        series = keys.drop_duplicates(ignore_index=True)
        code_of = pd.MultiIndex.from_frame(series).get_indexer(pd.MultiIndex.from_frame(keys))
        offsets = np.cumsum([0] + [len(b[0]) for b in self.blocks])
        entry_series = np.concatenate([code_of[o + b[1]] for o, b in zip(offsets, self.blocks, strict=False)])
        entry_day = np.concatenate([b[2] for b in self.blocks])
        credits = np.concatenate([b[3] for b in self.blocks])
        num = np.concatenate([b[4] for b in self.blocks])
        # Same series and day from two blocks (storage and tile generation share "tiles"): sum.
        flat = entry_series.astype(np.int64) * self.spec.days + entry_day
        uniq, inverse = np.unique(flat, return_inverse=True)
        summed_credits = np.bincount(inverse, weights=credits)
        summed_num = np.bincount(inverse, weights=num).astype(np.int64)
        return UsageLedger(
            series=series,
            entry_series=(uniq // self.spec.days).astype(np.int32),
            entry_day=(uniq % self.spec.days).astype(np.int32),
            entry_credits=np.round(summed_credits, 6),
            entry_num=summed_num,
        )
