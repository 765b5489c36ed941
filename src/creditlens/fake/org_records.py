"""The demo org's ``portals/self`` record and its roles, as ArcGIS Online shapes them.

Field names and shapes follow Esri's own client test data (``arcgis-rest-js`` portal and
subscription mocks, ``solution.js`` ``getAGOLSubscriptionInfo``); the values are synthetic.
"""

from __future__ import annotations

from collections import Counter

#: ArcGIS Online's built-in custom-role templates that ``roles.all()`` lists (ids as Esri's docs show).
VIEWER_ROLE_ID, DATA_EDITOR_ROLE_ID = "iAAAAAAAAAAAAAAA", "iBBBBBBBBBBBBBBB"
_VIEWER_PRIVILEGES = [
    "portal:user:joinGroup",
    "portal:user:viewOrgGroups",
    "portal:user:viewOrgItems",
    "portal:user:viewOrgUsers",
]
_HELPER_SERVICES = {
    "geocode": [
        {
            "url": "https://geocode-api.arcgis.com/arcgis/rest/services/World/GeocodeServer",
            "northLat": "Ymax",
            "southLat": "Ymin",
            "eastLon": "Xmax",
            "westLon": "Xmin",
            "name": "ArcGIS World Geocoding Service",
            "batch": True,
            "placefinding": True,
            "suggest": True,
        }
    ],
    "route": {"url": "https://route-api.arcgis.com/arcgis/rest/services/World/Route/NAServer/Route_World"},
    "closestFacility": {
        "url": "https://route-api.arcgis.com/arcgis/rest/services/World/ClosestFacility/NAServer/ClosestFacility_World"
    },
    "serviceArea": {
        "url": "https://route-api.arcgis.com/arcgis/rest/services/World/ServiceAreas/NAServer/ServiceArea_World"
    },
    "geoenrichment": {"url": "https://geoenrich.arcgis.com/arcgis/rest/services/World/geoenrichmentserver"},
    "analysis": {"url": "https://analysis.arcgis.com/arcgis/rest/services/tasks/GPServer"},
    "elevation": {"url": "https://elevation.arcgis.com/arcgis/rest/services/Tools/Elevation/GPServer"},
    "printTask": {
        "url": "https://utility.arcgisonline.com/arcgis/rest/services/Utilities/PrintingTools/"
        "GPServer/Export%20Web%20Map%20Task"
    },
}


def portal_record(org_id: str, name: str, url_key: str, created_ms: int, expires_ms: int, members: list[dict]) -> dict:
    """``portals/self`` without ``user`` (added per caller) and with ``availableCredits`` still 0."""
    max_users = len(members) + 50
    licensed = Counter(m["userLicenseTypeId"] for m in members)
    return {
        "id": org_id,
        "name": name,
        "urlKey": url_key,
        "customBaseUrl": "maps.arcgis.com",
        "portalHostname": f"{url_key}.maps.arcgis.com",
        "portalName": "ArcGIS Online",
        "portalMode": "multitenant",
        "isPortal": False,
        "currentVersion": "2025.2",
        "allSSL": True,
        "access": "private",
        "culture": "en",
        "region": "WO",
        "units": "metric",
        "creditAssignments": "enabled",
        "defaultUserCreditAssignment": -1,
        "availableCredits": 0.0,
        "maxTokenExpirationMinutes": 20160,
        "created": created_ms,
        "helperServices": _HELPER_SERVICES,
        "subscriptionInfo": {
            "id": org_id,
            "type": "In Use",
            "state": "active",
            "expDate": expires_ms,
            "userLicenseTypes": {ut: n + 10 for ut, n in sorted(licensed.items())},
            "maxUsersPerLevel": {"1": 0, "2": max_users},
            "maxUsers": max_users,
            "availableCredits": 0.0,
            "collaborationSettings": {"level": "4", "maxItemSizeInMB": 1024, "maxReplicationPackageSizeInMB": 5120},
            "hubSettings": {"enabled": False},
            "companionOrganizations": [],
            "orgCapabilities": [],
        },
        "supportsOAuth": True,
    }


def org_roles(custom_role_id: str, custom_privileges: list[str], created_ms: int) -> tuple[list[dict], dict]:
    """The roles ``portals/self/roles`` lists, and each role's privileges (``roles/<id>/privileges``)."""
    roles = [  # the org's own custom role first: it is the one its members have
        (
            custom_role_id,
            "Credit Analyst",
            "Views members and credit usage; cannot change anything.",
            custom_privileges,
        ),
        (VIEWER_ROLE_ID, "Viewer", "View data only.", _VIEWER_PRIVILEGES),
        (DATA_EDITOR_ROLE_ID, "Data Editor", "Edit data, view content.", [*_VIEWER_PRIVILEGES, "features:user:edit"]),
    ]
    records = [
        {"id": rid, "name": name, "description": text, "created": created_ms, "modified": created_ms}
        for rid, name, text, _ in roles
    ]
    return records, {rid: list(privileges) for rid, *_, privileges in roles}
