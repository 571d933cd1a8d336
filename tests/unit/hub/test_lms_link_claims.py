"""What an LTI launch tells the service for grade passback (``signin.rules.lms_link``), and
how the service checks it in the hub's identity request (``lms_links.parse_link``)."""

from __future__ import annotations

import pytest

from coursehub.service.identities import parse_request
from coursehub.service.rules import Refusal
from coursehub.signin.rules import AGS_CLAIM, DEPLOYMENT_CLAIM, lms_link

CLAIMS = {
    "iss": "https://canvas.instructure.com",
    "aud": "10000000000001",
    DEPLOYMENT_CLAIM: "42:abc",
    AGS_CLAIM: {
        "scope": [
            "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
            "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        ],
        "lineitems": "https://canvas.example.edu/api/lti/courses/7/line_items",
    },
}


def test_a_launch_with_the_ags_claim_names_platform_and_line_items():
    assert lms_link(CLAIMS) == {
        "client_id": "10000000000001",
        "deployment_id": "42:abc",
        "lineitems": "https://canvas.example.edu/api/lti/courses/7/line_items",
        "scopes": [
            "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
            "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        ],
    }
    # aud may be a list; azp then names the client.
    listed = {**CLAIMS, "aud": ["other", "10000000000001"], "azp": "10000000000001"}
    assert lms_link(listed)["client_id"] == "10000000000001"


def test_a_launch_without_line_items_says_nothing():
    assert lms_link({k: v for k, v in CLAIMS.items() if k != AGS_CLAIM}) is None
    assert lms_link({**CLAIMS, AGS_CLAIM: {"scope": []}}) is None


def request(lms) -> dict:
    return {
        "issuer": CLAIMS["iss"],
        "subject": "sub-1",
        "preferred": None,
        "launch": {"course": "ai-101", "role": "student", "lms": lms},
    }


def test_the_service_keeps_the_link_under_the_launchs_issuer():
    parsed = parse_request(request(lms_link(CLAIMS)))
    link = parsed["launch"]["lms"]
    assert (link.issuer, link.client_id, link.deployment_id) == (
        CLAIMS["iss"],
        "10000000000001",
        "42:abc",
    )
    assert parse_request(request(None))["launch"]["lms"] is None


@pytest.mark.parametrize(
    ("lms", "field"),
    [
        ("https://x", "'launch.lms' must be an object"),
        ({**lms_link(CLAIMS), "lineitems": "file:///etc/passwd"}, "'launch.lms.lineitems'"),
        ({**lms_link(CLAIMS), "client_id": ""}, "'launch.lms.client_id'"),
        ({**lms_link(CLAIMS), "scopes": "all"}, "'launch.lms.scopes'"),
    ],
)
def test_a_bad_link_is_refused_naming_the_field(lms, field):
    with pytest.raises(Refusal) as refused:
        parse_request(request(lms))
    assert refused.value.status == 400 and field in refused.value.message
