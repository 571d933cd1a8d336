"""The refusal page's text, the LTI nonce ledger and the OIDC e-mail domain check (no hub
needed)."""

from __future__ import annotations

import pytest

from coursehub.hub.course_auth import SignInRefused
from coursehub.hub.lti import NonceLedger
from coursehub.hub.oidc import CourseOIDCAuthenticator


def test_refusal_shows_title_message_and_hint_escaped():
    refused = SignInRefused(403, "No course", "You are <b>x</b>.", "Ask & wait.")
    assert refused.status_code == 403
    assert refused.reason == "No course"
    assert refused.jupyterhub_message == "No course. You are <b>x</b>. Ask & wait."
    assert refused.jupyterhub_html_message == "You are &lt;b&gt;x&lt;/b&gt;.<br><br>Ask &amp; wait."


def test_a_nonce_is_accepted_once_until_it_expires():
    now = [1000.0]
    ledger = NonceLedger(minimum_seconds=60, clock=lambda: now[0])
    assert ledger.first_use("https://lms", "n1", expires_at=1300)
    assert not ledger.first_use("https://lms", "n1", expires_at=1300)
    assert ledger.first_use("https://other-lms", "n1", expires_at=1300)
    now[0] = 1200.0
    assert not ledger.first_use("https://lms", "n1", expires_at=1300), "kept until exp"
    now[0] = 1301.0
    assert ledger.first_use("https://lms", "n1", expires_at=None), "forgotten after exp"
    now[0] = 1360.0
    assert not ledger.first_use("https://lms", "n1", expires_at=None), "kept the minimum"


@pytest.mark.parametrize(
    ("email", "verified", "accepted"),
    [
        ("jane@uni.example", True, True),
        ("jane@UNI.example", True, True),
        ("jane@uni.example", False, False),  # email_verified missing or not literally true
        ("jane@gmail.com", True, False),
        ("jane@uni.example.evil.com", True, False),
        (None, False, False),
    ],
)
def test_email_domains_accept_only_verified_addresses_of_those_domains(email, verified, accepted):
    authenticator = CourseOIDCAuthenticator(email_domains=["uni.example"])
    if accepted:
        authenticator._check_email(email, verified, "jane")
    else:
        with pytest.raises(SignInRefused, match=r"only verified e-mail addresses of uni\.example"):
            authenticator._check_email(email, verified, "jane")
