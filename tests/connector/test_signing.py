"""Request and response signatures of the partner API."""

from __future__ import annotations

from stockade.connector import signing


def test_request_signature_binds_method_path_time_and_body() -> None:
    sig = signing.sign_request("s3cret", "POST", "/api/partner/v1/heartbeat", 1000, b"{}")
    assert signing.verify(
        sig, signing.sign_request("s3cret", "post", "/api/partner/v1/heartbeat", 1000, b"{}")
    )
    for other in (
        signing.sign_request("other", "POST", "/api/partner/v1/heartbeat", 1000, b"{}"),
        signing.sign_request("s3cret", "PUT", "/api/partner/v1/heartbeat", 1000, b"{}"),
        signing.sign_request("s3cret", "POST", "/api/partner/v1/devices/x", 1000, b"{}"),
        signing.sign_request("s3cret", "POST", "/api/partner/v1/heartbeat", 1001, b"{}"),
        signing.sign_request("s3cret", "POST", "/api/partner/v1/heartbeat", 1000, b"{ }"),
    ):
        assert not signing.verify(sig, other)


def test_response_signature_differs_from_request_signature() -> None:
    assert signing.sign_response("s", 200, 5, b"x") != signing.sign_request(
        "s", "200", "5", 5, b"x"
    )
    assert signing.verify(
        signing.sign_response("s", 200, 5, b"x"), signing.sign_response("s", 200, 5, b"x")
    )


def test_freshness_window() -> None:
    assert signing.fresh(1000, 1000 + signing.MAX_SKEW_SECONDS)
    assert not signing.fresh(1000, 1001 + signing.MAX_SKEW_SECONDS)
    assert not signing.fresh(1000 + signing.MAX_SKEW_SECONDS + 1, 1000)
