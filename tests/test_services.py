"""The service catalog: names, categories and one fixed colour per service."""

from creditlens import services


def test_every_listed_service_has_its_own_colour():
    assert set(services.SERVICE_COLORS) == set(services.SERVICES)
    colours = list(services.SERVICE_COLORS.values())
    assert len(set(colours)) == len(colours)
    assert services.OTHER_COLOR not in colours


def test_colour_depends_on_the_code_only():
    assert services.service_color("geocode") == services.SERVICE_COLORS["geocode"]
    first = services.service_color("imageryanalysis")
    assert first == services.service_color("imageryanalysis")
    assert first not in services.SERVICE_COLORS.values()


def test_names_and_categories_of_known_and_unknown_codes():
    assert services.service_name("geocode") == "Geocoding" and services.is_listed("geocode")
    assert services.service_name("hyperdrive") == "hyperdrive" and not services.is_listed("hyperdrive")
    names = [s.name for s in services.SERVICES.values()]
    assert len(set(names)) == len(names)  # a name identifies its service in charts and columns
