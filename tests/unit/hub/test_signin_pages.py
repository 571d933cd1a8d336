"""The refusal page's text and the LTI nonce ledger (no hub needed)."""

from __future__ import annotations

from coursehub.hub.course_auth import SignInRefused
from coursehub.hub.lti import NonceLedger


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
