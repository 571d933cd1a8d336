"""The pure parts of grade passback: the tool's keys and client assertion, the LMS's
errors in plain words, when to retry, and which scores a push sends."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from coursehub.envvars import SettingsError
from coursehub.service.ags import (
    client_assertion,
    plain_error,
    public_jwks,
    retry_wait,
    score_body,
    scores_url,
    with_query,
)
from coursehub.service.lms_grades import NO_IDENTITY, plan
from coursehub.service.lms_settings import LMSSettings
from coursehub.service.models import LMSScore


def pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


KEY = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
TOKEN_URL = "https://lms.example/login/oauth2/token"


def test_the_client_assertion_verifies_against_the_published_jwks():
    token = client_assertion(KEY, "client-1", TOKEN_URL, now=1_800_000_000, jti="j1")
    (jwk,) = public_jwks(KEY)["keys"]
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]
    public = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
    claims = jwt.decode(
        token,
        public,
        algorithms=["RS256"],
        audience=TOKEN_URL,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert (claims["iss"], claims["sub"], claims["jti"]) == ("client-1", "client-1", "j1")
    assert claims["exp"] - claims["iat"] == 300
    assert "d" not in jwk and "p" not in jwk  # only the public half is published


def test_the_key_id_is_the_rfc_7638_thumbprint():
    from jwcrypto.jwk import JWK

    (jwk,) = public_jwks(KEY)["keys"]
    assert jwk["kid"] == JWK.from_pem(KEY.encode()).thumbprint()


@pytest.mark.parametrize(
    ("value", "fault"),
    [
        ("not a key", "not a PEM private key"),
        (pem(ec.generate_private_key(ec.SECP256R1())), "not an RSA key"),
    ],
)
def test_a_bad_tool_key_names_the_variable(value, fault):
    with pytest.raises(SettingsError) as failed:
        LMSSettings.from_environ({"COURSEHUB_LMS_TOOL_KEY": value})
    assert "COURSEHUB_LMS_TOOL_KEY=<hidden>" in str(failed.value) and fault in str(failed.value)
    assert value not in str(failed.value)


def test_passback_is_on_only_with_the_key_and_the_token_url():
    assert not LMSSettings.from_environ({}).enabled
    assert not LMSSettings.from_environ({"COURSEHUB_LMS_TOOL_KEY": KEY}).enabled
    both = {"COURSEHUB_LMS_TOOL_KEY": KEY, "COURSEHUB_LMS_TOKEN_URL": TOKEN_URL}
    assert LMSSettings.from_environ(both).enabled


@pytest.mark.parametrize(
    ("status", "body", "sentence"),
    [
        (
            403,
            '{"errors": [{"message": "User is not enrolled"}]}',
            "the LMS refused to take x (HTTP 403): User is not enrolled",
        ),
        (
            401,
            '{"error": "invalid_client", "error_description": "Unknown key"}',
            "the LMS refused to take x (HTTP 401): Unknown key",
        ),
        (
            400,
            '{"status": 400, "reason": "Bad Request", "message": "Incorrect score received"}',
            "the LMS refused to take x (HTTP 400): Incorrect score received",
        ),
        (
            404,
            "<html><body>Not Found</body></html>",
            "the LMS refused to take x (HTTP 404): it does not know that address",
        ),
        (0, "Connection refused", "the LMS did not answer when coursehub tried to take x"),
    ],
)
def test_the_lms_errors_in_plain_words(status, body, sentence):
    assert plain_error(status, body, "take x").startswith(sentence)


def test_only_429_5xx_and_no_answer_are_retried_with_a_doubling_wait():
    assert retry_wait(400, {}, 0, 1.0) is None and retry_wait(404, {}, 0, 1.0) is None
    assert [retry_wait(500, {}, attempt, 1.0) for attempt in range(3)] == [1.0, 2.0, 4.0]
    assert retry_wait(0, {}, 1, 0.5) == 1.0
    assert retry_wait(429, {"Retry-After": "3"}, 0, 1.0) == 3.0
    assert retry_wait(429, {"Retry-After": "86400"}, 0, 1.0) == 60.0


def test_urls_and_the_score_body():
    assert (
        scores_url("https://lms/api/lineitems/7?type=x")
        == "https://lms/api/lineitems/7/scores?type=x"
    )
    assert (
        with_query("https://lms/li?a=1", resource_id="ps 1")
        == "https://lms/li?a=1&resource_id=ps+1"
    )
    when = datetime(2026, 12, 1, tzinfo=UTC)
    assert score_body("sub-1", 7.0, 10.0, when) == {
        "userId": "sub-1",
        "scoreGiven": 7.0,
        "scoreMaximum": 10.0,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": "2026-12-01T00:00:00+00:00",
    }


def test_a_push_sends_changed_scores_of_students_with_an_lms_identity():
    grades = [
        {"student": "bob", "score": 5, "max_score": 10},
        {"student": "alice", "score": 7, "max_score": 10},
        {"student": "carol", "score": 9, "max_score": 10},
    ]
    sent = {
        "alice": LMSScore(score=7.0, max_score=10.0, sent_at=datetime(2026, 12, 1, tzinfo=UTC)),
        "carol": LMSScore(score=8.0, max_score=10.0, sent_at=datetime(2026, 12, 1, tzinfo=UTC)),
    }
    to_send, skipped = plan(grades, {"alice": "a-sub", "carol": "c-sub"}, sent)
    assert [(item.student, item.user_id, item.score) for item in to_send] == [
        ("carol", "c-sub", 9.0)
    ]
    assert skipped[0]["student"] == "alice" and skipped[0]["reason"].startswith(
        "unchanged: 7/10 was sent at 2026-12-01"
    )
    assert skipped[1] == {"student": "bob", "reason": NO_IDENTITY}
