import pytest

from creditlens.deployment import (
    AccessAttempts,
    DeploymentConfigError,
    email_allowed,
    hash_access_code,
    load_deployment_config,
    verify_access_code,
)

FAST = 1000  # iterations: the tests check behaviour, not strength


def test_access_code_hash_is_salted_and_verifies_only_the_right_code():
    first = hash_access_code("open sesame", iterations=FAST)
    second = hash_access_code("open sesame", iterations=FAST)
    assert first != second  # a fresh salt each time
    assert "open sesame" not in first
    assert verify_access_code("open sesame", first) and verify_access_code("open sesame", second)
    assert not verify_access_code("open sesam", first)
    assert not verify_access_code("", first)
    assert not verify_access_code("open sesame", "plain-text-code")


def test_attempts_lock_after_the_limit_even_for_the_right_code():
    stored = hash_access_code("right", iterations=FAST)
    attempts = AccessAttempts(limit=3)
    assert not attempts.try_code("a", stored) and attempts.remaining == 2
    assert not attempts.try_code("b", stored)
    assert not attempts.try_code("c", stored)
    assert attempts.locked and not attempts.try_code("right", stored)


def test_the_right_code_grants_access():
    stored = hash_access_code("right", iterations=FAST)
    attempts = AccessAttempts(limit=3)
    assert not attempts.try_code("wrong", stored)
    assert attempts.try_code("right", stored) and attempts.granted and not attempts.locked


def test_email_allow_list_by_address_and_domain():
    emails, domains = frozenset({"ana@partner.com"}), frozenset({"example.org"})
    assert email_allowed("Ana@Partner.com", emails, domains)
    assert email_allowed("bo@example.org", emails, domains)
    assert not email_allowed("bo@evil-example.org", emails, domains)
    assert not email_allowed("bo@example.org.evil.com", emails, domains)
    assert not email_allowed(None, emails, domains) and not email_allowed("no-at-sign", emails, domains)


def test_config_from_environment_and_secrets_precedence():
    env = {
        "CREDITLENS_SERVER_PORTAL_URL": "https://env.maps.arcgis.com",
        "CREDITLENS_SERVER_USERNAME": "u",
        "CREDITLENS_SERVER_PASSWORD": "s3cr3t-pw",
        "CREDITLENS_ALLOWED_DOMAINS": "Example.org, other.org",
    }
    config = load_deployment_config({"portal_url": "https://secrets.maps.arcgis.com"}, env, oidc_configured=True)
    assert config.server.portal_url == "https://secrets.maps.arcgis.com"
    assert config.allowed_domains == {"example.org", "other.org"}
    assert config.uses_oidc and config.gated and config.serves_org_data
    assert not config.allow_user_login  # default off when a server connection exists
    assert "s3cr3t-pw" not in repr(config) and "s3cr3t-pw" not in repr(config.server)


def test_no_gate_means_no_org_data_unless_explicitly_open():
    env = {
        "CREDITLENS_SERVER_PORTAL_URL": "https://x.maps.arcgis.com",
        "CREDITLENS_SERVER_USERNAME": "u",
        "CREDITLENS_SERVER_PASSWORD": "p",
    }
    assert not load_deployment_config({}, env).serves_org_data
    assert load_deployment_config({"allow_open": True}, env).serves_org_data
    # An allow-list without OIDC configured is no gate.
    assert not load_deployment_config({"allowed_domains": ["x.org"]}, env).serves_org_data


def test_incomplete_or_bad_config_is_a_clear_error():
    with pytest.raises(DeploymentConfigError, match="together"):
        load_deployment_config({"portal_url": "https://x.maps.arcgis.com"}, {})
    with pytest.raises(DeploymentConfigError, match="hash-access-code"):
        load_deployment_config({"access_code_hash": "letmein"}, {})


def test_no_configuration_is_plain_per_user_mode():
    config = load_deployment_config({}, {})
    assert config.server is None and config.allow_user_login and not config.serves_org_data
