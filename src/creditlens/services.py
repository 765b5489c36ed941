"""The ArcGIS Online service types (``stype``) that bill credits, with human names.

Codes come from the usage endpoint; an unknown code is still counted and shown raw.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceType:
    code: str
    name: str
    category: str
    etype: str


_CATALOG = [
    ServiceType("features", "Feature storage", "Storage", "stg"),
    ServiceType("tiles", "Tile & file storage", "Storage", "stg"),
    ServiceType("portal", "File storage", "Storage", "stg"),
    ServiceType("scene", "Scene storage", "Storage", "stg"),
    ServiceType("vectortiles", "Vector tile storage", "Storage", "stg"),
    ServiceType("geocode", "Geocoding", "Geocoding", "geocodecnt"),
    ServiceType("nasimpleroute", "Simple routing", "Routing", "svcusg"),
    ServiceType("natsproute", "Optimized routing", "Routing", "svcusg"),
    ServiceType("nacfroute", "Closest facility", "Routing", "svcusg"),
    ServiceType("naservicearea", "Service areas", "Routing", "svcusg"),
    ServiceType("naodresult", "OD cost matrix", "Routing", "svcusg"),
    ServiceType("nalademandpoint", "Location-allocation", "Routing", "svcusg"),
    ServiceType("navrproute", "Multi-vehicle routing", "Routing", "svcusg"),
    ServiceType("nalmdorder", "Last-mile delivery", "Routing", "svcusg"),
    ServiceType("nastrpoint", "Snap to roads", "Routing", "svcusg"),
    ServiceType("geoenrich", "GeoEnrichment", "Enrichment", "svcusg"),
    ServiceType("spanalysis", "Spatial analysis", "Analysis", "svcusg"),
    ServiceType("elevanalysis", "Elevation analysis", "Analysis", "svcusg"),
    ServiceType("demogmaps", "Demographic maps", "Enrichment", "svcusg"),
    ServiceType("geotrigger", "Geotrigger", "Analysis", "svcusg"),
    ServiceType("notebooks", "Notebooks", "Notebooks", "svcusg"),
    ServiceType("intnotebks", "Advanced notebooks", "Notebooks", "svcusg"),
    ServiceType("schdnotebks", "Scheduled notebooks", "Notebooks", "svcusg"),
    ServiceType("applogin", "App logins", "Other", "svcusg"),
]

SERVICES: dict[str, ServiceType] = {s.code: s for s in _CATALOG}

#: Storage is billed daily but is not covered by per-member credit budgets.
STORAGE_STYPES = frozenset(s.code for s in _CATALOG if s.category == "Storage")


def service_name(stype: str) -> str:
    """Human name of a service type; unknown codes are shown as they are."""
    known = SERVICES.get(stype)
    return known.name if known else stype


# -- colours ----------------------------------------------------------------------------------------
#: One fixed colour per service code, used by every chart, so a service looks the same in every range
#: and on every slide. Hues group loosely by category (storage blues, routing greens/yellows, ...), and
#: the services that usually appear together get clearly different ones.
SERVICE_COLORS: dict[str, str] = {
    "features": "#4e79a7",
    "tiles": "#a0cbe8",
    "portal": "#499894",
    "scene": "#86bcb6",
    "vectortiles": "#1170aa",
    "geocode": "#f28e2b",
    "nasimpleroute": "#59a14f",
    "natsproute": "#8cd17d",
    "nacfroute": "#b6992d",
    "naservicearea": "#f1ce63",
    "naodresult": "#5fa2ce",
    "nalademandpoint": "#ffbe7d",
    "navrproute": "#d37295",
    "nalmdorder": "#fabfd2",
    "nastrpoint": "#79706e",
    "geoenrich": "#b07aa1",
    "demogmaps": "#d4a6c8",
    "spanalysis": "#e15759",
    "elevanalysis": "#ff9d9a",
    "geotrigger": "#a3acb9",
    "notebooks": "#d7b5a6",
    "intnotebks": "#9d7660",
    "schdnotebks": "#c85200",
    "applogin": "#57606c",
}
#: Codes outside the catalog get one of these, chosen by a stable hash of the code (never by rank).
_UNLISTED_COLORS = ("#bcbd22", "#17becf", "#8c564b", "#e377c2", "#9467bd")
#: "Other services" and "Everyone else": the sums of what is not drawn by name.
OTHER_COLOR = "#9d9d9d"


def service_color(stype: str) -> str:
    """The fixed colour of a service code; unknown codes get a colour derived from the code itself."""
    known = SERVICE_COLORS.get(stype)
    if known:
        return known
    return _UNLISTED_COLORS[zlib.crc32(stype.encode("utf-8")) % len(_UNLISTED_COLORS)]


def is_listed(stype: str) -> bool:
    """Whether Credit Lens knows this service code (and so shows a human name for it)."""
    return stype in SERVICES
