"""Credentials: `<prefix>_<id>.<secret>`, parsed back, secret hidden from repr."""

from __future__ import annotations

import pytest

from stockade.core.ids import (
    Credential,
    digest,
    new_credential,
    new_id,
    parse_credential,
    secret_matches,
)


def test_new_ids_are_unique() -> None:
    assert len({new_id() for _ in range(100)}) == 100


def test_credential_string_format() -> None:
    credential = Credential("sdv", "abc-123", "s3cret")
    assert str(credential) == "sdv_abc-123.s3cret"


def test_new_credential_uses_prefix_and_given_id() -> None:
    credential = new_credential("set", "my-id")
    assert credential.prefix == "set"
    assert credential.id == "my-id"
    assert len(credential.secret) >= 40  # 32 random bytes, base64url


def test_new_credentials_have_distinct_ids_and_secrets() -> None:
    a, b = new_credential("sdv"), new_credential("sdv")
    assert a.id != b.id
    assert a.secret != b.secret


def test_round_trip_through_its_string_form() -> None:
    credential = new_credential("sdv")
    assert parse_credential(str(credential), "sdv") == credential


def test_parse_tolerates_surrounding_whitespace() -> None:
    assert parse_credential("  sdv_id.secret\n", "sdv") == Credential("sdv", "id", "secret")


def test_parse_keeps_underscores_in_the_secret() -> None:
    assert parse_credential("sdv_id.a_b-c", "sdv") == Credential("sdv", "id", "a_b-c")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "sdv",
        "sdvid.secret",  # no separator
        "set_id.secret",  # another kind of credential
        "SDV_id.secret",  # prefixes are case-sensitive
        "sdv_id",  # no secret part
        "sdv_id.",  # empty secret
        "sdv_.secret",  # empty id
        "sdv_",
    ],
)
def test_parse_refuses_what_is_not_this_kind(raw: str) -> None:
    assert parse_credential(raw, "sdv") is None


def test_repr_hides_the_secret() -> None:
    credential = Credential("sdv", "abc", "very-secret-value")
    shown = repr(credential)
    assert "very-secret-value" not in shown
    assert "***" in shown
    assert "abc" in shown
    assert "very-secret-value" not in f"{[credential]}"  # containers use repr too


def test_secret_digest_is_sha256_hex() -> None:
    credential = Credential("sdv", "abc", "secret")
    assert credential.secret_digest == digest("secret")
    assert len(credential.secret_digest) == 64
    assert credential.secret_digest != "secret"


def test_secret_matches_its_own_digest() -> None:
    credential = new_credential("sdv")
    assert secret_matches(credential, credential.secret_digest)


def test_secret_does_not_match_another_digest() -> None:
    credential = new_credential("sdv")
    other = new_credential("sdv")
    assert not secret_matches(credential, other.secret_digest)
    assert not secret_matches(credential, "")


def test_presented_credential_matches_stored_digest() -> None:
    issued = new_credential("sdv")
    stored = issued.secret_digest
    presented = parse_credential(str(issued), "sdv")
    assert presented is not None
    assert secret_matches(presented, stored)
    tampered = parse_credential(f"sdv_{issued.id}.{issued.secret}x", "sdv")
    assert tampered is not None
    assert not secret_matches(tampered, stored)
