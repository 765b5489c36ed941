"""Usage keys that vary per day within one series: the ``appId`` of an app login, the ``task`` of an analysis.

The ledger's series are (username, userOrgId, stype, etype). ``appId`` and ``task`` are drawn per
ledger entry (one series on one day) by a fixed hash of its position, so each day's use goes wholly
to one app or tool: grouping by them splits a series without changing any total, and the ledger
itself (and every number drawn from it) stays as it was.
"""

from __future__ import annotations

import numpy as np

from creditlens.fake.usage_draws import UsageLedger

#: For each entry key: the stypes that carry it, and the values it takes for them.
ENTRY_KEY_VALUES: dict[str, dict[str, tuple[str, ...]]] = {
    "appId": {
        "applogin": ("arcgisonline", "arcgisfieldmaps", "survey123", "dashboards", "experiencebuilder"),
    },
    "task": {
        "spanalysis": ("AggregatePoints", "CreateBuffers", "FindHotSpots", "SummarizeWithin", "JoinFeatures"),
        "geoenrich": ("display", "report", "geoenrich"),
    },
}
ENTRY_KEYS = tuple(ENTRY_KEY_VALUES)


def entry_codes(ledger: UsageLedger, key: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Per ledger entry, the index of its ``key`` value in the returned table (0: ``""``, key absent)."""
    by_stype = ENTRY_KEY_VALUES[key]
    values: tuple[str, ...] = ("",)
    offset = np.zeros(len(ledger.series), dtype=np.int64)
    count = np.zeros(len(ledger.series), dtype=np.int64)
    stypes = ledger.series["stype"].to_numpy()
    for stype, options in by_stype.items():
        hit = stypes == stype
        offset[hit], count[hit] = len(values), len(options)
        values += options
    series, day = ledger.entry_series.astype(np.int64), ledger.entry_day.astype(np.int64)
    spread = (series * 2_654_435_761 + day * 40_503) % np.maximum(count[series], 1)
    codes = np.where(count[series] > 0, offset[series] + spread, 0)
    return codes, values
