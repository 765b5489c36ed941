"""The ArcGIS Online service types (``stype``) that bill credits, with human names.

Codes come from the usage endpoint; an unknown code is still counted and shown raw.
"""

from __future__ import annotations

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
