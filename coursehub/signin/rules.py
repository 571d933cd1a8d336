"""Sign-in rules: pure functions, no I/O.

What an identity provider (OIDC) or an LMS launch (LTI 1.3) tells the hub is turned into
coursehub's terms here; the authenticators in ``coursehub.hub.oidc`` and
``coursehub.hub.lti`` only do the I/O around these functions, and the service's identity
store (``coursehub.service.identities``) names newcomers with the same rules.

- ``base_username(preferred, subject, home_domain)``: a valid, lower-case JupyterHub
  username from an e-mail address or a preferred name, one to one (``Jane.Doe+x@Uni.edu``
  -> ``jane.doe+x@uni.edu``; ``jane.doe`` when ``uni.edu`` is the home domain).
- ``name_source(claims, name_claims, email_verified)``: the claim value a new user's name
  is made from (an unverified e-mail is skipped).
- ``next_free_username(base, taken)``: ``base``, else ``base-2``, ``base-3``, ...
- ``claim_values(claims, path)``: the strings at a dotted claim path
  (``groups``, ``realm_access.roles``).
- ``memberships_from_claims(values, pattern, known_courses)``: ``{course: role}`` from
  values such as ``ai-101:student`` and ``ai-101:instructor``.
- ``lti_role(roles)``: ``staff``, ``student`` or None from an LTI launch's roles claim.
- ``deep_link(...)``: where a launch lands (an environment, an assignment or the course).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlencode

from coursehub.catalog.model import USERNAME_PATTERN, Course, profile_slug

Role = Literal["staff", "student"]

# Room for a "-NNNNN" suffix within the catalog's 63 characters.
BASE_USERNAME_MAX = 56
_USERNAME = re.compile(USERNAME_PATTERN)

# What values of a course claim may call a role; anything else is ignored (logged).
CLAIM_ROLES: dict[str, Role] = {
    "student": "student",
    "learner": "student",
    "instructor": "staff",
    "teacher": "staff",
    "ta": "staff",
    "staff": "staff",
}
DEFAULT_COURSE_PATTERN = r"^(?P<course>[a-z0-9][-a-z0-9]*):(?P<role>[a-z]+)$"


class SignInProblem(ValueError):
    """Claims that cannot be turned into a sign-in; the message is meant for the user."""


def base_username(preferred: str | None, subject: str, home_domain: str | None = None) -> str:
    """A valid JupyterHub username from ``preferred`` (an e-mail address or a name), else
    from the stable ``subject``.

    Different addresses never give the same name: the name is the address itself, in lower
    case (``Jane.Doe+ai@Uni.edu`` -> ``jane.doe+ai@uni.edu``). Only addresses at
    ``home_domain`` lose their domain (``jane.doe@uni.edu`` -> ``jane.doe``), which is one
    to one as well. Nothing else is changed: a value with characters a username may not
    have (accents, full-width letters, spaces, ``'``), or longer than ``BASE_USERNAME_MAX``,
    is not folded into a look-alike but replaced by ``user-`` and 10 hex digits of the
    subject's SHA-256.
    """
    text = (preferred or "").strip()
    # ASCII only, before lower(): str.lower() maps some other letters onto ASCII ones
    # (the Kelvin sign onto "k").
    if text.isascii():
        text = text.lower()
        domain = (home_domain or "").lower().lstrip("@")
        if domain and text.count("@") == 1 and text.endswith("@" + domain):
            text = text.removesuffix("@" + domain)
        if len(text) <= BASE_USERNAME_MAX and text.count("@") <= 1 and _USERNAME.fullmatch(text):
            return text
    digest = hashlib.sha256(subject.encode()).hexdigest()[:10]
    return f"user-{digest}"


# Short names for the LTI claims a username may come from: ``custom.login_id`` (a custom
# parameter such as Canvas's $Canvas.user.loginId), ``lis.person_sourcedid`` (the SIS id),
# ``ext.user_username`` (Moodle's login name).
LTI_CLAIM_PREFIXES = {
    "custom": "https://purl.imsglobal.org/spec/lti/claim/custom",
    "lis": "https://purl.imsglobal.org/spec/lti/claim/lis",
    "ext": "https://purl.imsglobal.org/spec/lti/claim/ext",
}


def name_source(
    claims: Mapping[str, Any],
    name_claims: Iterable[str],
    email_verified: bool,
    prefixes: Mapping[str, str] | None = None,
) -> str | None:
    """The first non-empty string among ``name_claims`` (claim names, tried in order), the
    text a new user's username is made from; None if there is none.

    ``email`` counts only when ``email_verified``: an address people can set themselves
    must not name them. With ``prefixes`` (``LTI_CLAIM_PREFIXES``), ``<prefix>.<key>`` is
    ``key`` inside the claim the prefix stands for."""
    for name in name_claims:
        if name == "email" and not email_verified:
            continue
        value = claims.get(name)
        prefix, _, key = name.partition(".")
        if value is None and prefixes and prefix in prefixes and key:
            inner = claims.get(prefixes[prefix])
            value = inner.get(key) if isinstance(inner, Mapping) else None
        if isinstance(value, str) and value.strip():
            return value
    return None


def next_free_username(base: str, taken: Iterable[str]) -> str:
    """``base`` if nobody has it, else the first free ``base-2``, ``base-3``, ..."""
    used = set(taken)
    if base not in used:
        return base
    number = 2
    while f"{base}-{number}" in used:
        number += 1
    return f"{base}-{number}"


def claim_values(claims: Mapping[str, Any], path: str) -> list[str]:
    """The strings at ``path`` (dots walk into nested objects): a list of strings, or one
    string, or a space/comma separated string as some providers send; [] if absent."""
    value: Any = claims
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return []
        value = value[key]
    if isinstance(value, str):
        return [part for part in re.split(r"[\s,]+", value) if part]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


@dataclass(frozen=True)
class ClaimMemberships:
    """What a course claim says: ``courses`` (id -> role, known courses only) and the
    values that were ignored, with why (for the log)."""

    courses: dict[str, Role]
    ignored: tuple[tuple[str, str], ...] = ()


def memberships_from_claims(
    values: Iterable[str], pattern: str | re.Pattern, known_courses: Iterable[str]
) -> ClaimMemberships:
    """``{course: role}`` from claim values matched by ``pattern`` (named groups ``course``
    and ``role``; role words in ``CLAIM_ROLES``). Staff wins when a value says both;
    values that do not match, name an unknown role or a course the catalog lacks are
    ignored. Matching is case-insensitive (course ids are lower case)."""
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    known = set(known_courses)
    courses: dict[str, Role] = {}
    ignored: list[tuple[str, str]] = []
    for value in values:
        match = regex.fullmatch(value.strip().lower())
        if match is None:
            continue  # other groups (e.g. "staff-all") are not about courses
        course, word = match.group("course"), match.group("role")
        role = CLAIM_ROLES.get(word)
        if role is None:
            ignored.append((value, f"unknown role {word!r}"))
            continue
        if course not in known:
            ignored.append((value, f"no course {course!r} in the catalog"))
            continue
        if courses.get(course) != "staff":
            courses[course] = role
    return ClaimMemberships(dict(sorted(courses.items())), tuple(ignored))


def is_admin(values: Iterable[str], admin_values: Iterable[str]) -> bool:
    wanted = {value.lower() for value in admin_values}
    return any(value.lower() in wanted for value in values)


# LTI 1.3 roles (https://www.imsglobal.org/spec/lti/v1p3/#role-vocabularies): context
# roles decide; institution and system roles say nothing about this course.
LIS = "http://purl.imsglobal.org/vocab/lis/v2/membership"
LTI_STAFF_ROLES = {"Instructor", "ContentDeveloper", "Administrator", "TeachingAssistant"}
LTI_STUDENT_ROLES = {"Learner"}


def _context_role_name(uri: str) -> str | None:
    """The principal context role a roles-claim entry grants: ``...membership#Instructor``
    -> ``Instructor``; a sub-role ``...membership/<Principal>#<Sub>`` -> ``<Principal>``
    (``membership/Learner#Instructor`` is a kind of learner, ``membership/Instructor#
    TeachingAssistant`` a kind of instructor); a simple name (``Learner``, allowed by the
    spec for context roles) stays; institution/system roles -> None."""
    if uri.startswith(LIS + "#"):
        return uri[len(LIS) + 1 :]
    if uri.startswith(LIS + "/"):
        return uri[len(LIS) + 1 :].split("#", 1)[0]
    if re.fullmatch(r"[A-Za-z]+", uri):
        return uri
    return None


def lti_role(roles: Iterable[str]) -> Role | None:
    """``staff`` for instructors, TAs, content developers and course administrators;
    ``student`` for learners; None for anything else (mentors, guests, no role)."""
    names = {_context_role_name(role) for role in roles if isinstance(role, str)}
    if names & LTI_STAFF_ROLES:
        return "staff"
    if names & LTI_STUDENT_ROLES:
        return "student"
    return None


def merge_courses(previous: Mapping[str, str], course: str, role: Role) -> dict[str, Role]:
    """LTI launches speak of one course at a time: the courses known from earlier launches
    with this launch's course set to its role now."""
    merged: dict[str, Role] = {
        key: value for key, value in previous.items() if value in ("staff", "student")
    }
    merged[course] = role
    return dict(sorted(merged.items()))


def deep_link(course: Course, custom: Mapping[str, Any], hub_prefix: str = "/hub/") -> str:
    """Where a launch lands: a path under the hub's prefix (``/hub/``).

    The launch's custom parameters (``https://purl.imsglobal.org/spec/lti/claim/custom``,
    set per link in the LMS) may ask for:

    - ``environment: <slug>``: start that environment of the course
      (``spawn?profile=<course>-<slug>``), then JupyterLab;
    - ``assignment: <name>``: start the course's default environment, then JupyterLab in
      the assignment's folder (fetched from the Assignments tab the first time);
    - nothing: the spawn page, which lists the user's environments.

    ``SignInProblem`` for an environment or assignment the course does not have.
    """
    environment_slug = custom.get("environment")
    assignment_name = custom.get("assignment")
    if environment_slug:
        environment = course.environment(str(environment_slug))
        if environment is None:
            raise SignInProblem(
                f"This link asks for the environment {environment_slug!r}, which course "
                f"{course.id} does not have (it has: "
                f"{', '.join(env.slug for env in course.environments)})."
            )
    else:
        environment = next((env for env in course.environments if env.default), None)
        environment = environment or course.environments[0]
    query = {"profile": profile_slug(course, environment)}
    if assignment_name:
        assignment = course.assignment(str(assignment_name))
        if assignment is None:
            raise SignInProblem(
                f"This link asks for the assignment {assignment_name!r}, which course "
                f"{course.id} does not have."
            )
        query["next"] = f"{hub_prefix}user-redirect/lab/tree/{quote(assignment.name)}"
    elif not environment_slug:
        return f"{hub_prefix}spawn"
    return f"{hub_prefix}spawn?" + urlencode(query)


AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
DEPLOYMENT_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"


def lms_link(claims: Mapping[str, Any]) -> dict | None:
    """What an LTI launch says about grade passback (its platform and AGS endpoint), for
    the service's ``lms_links``; None when the launch carries no line items URL."""
    endpoint = claims.get(AGS_CLAIM)
    if not isinstance(endpoint, dict) or not isinstance(endpoint.get("lineitems"), str):
        return None
    audience = claims.get("aud")
    client_id = claims.get("azp") or (
        audience[0] if isinstance(audience, list) and audience else audience
    )
    deployment = claims.get(DEPLOYMENT_CLAIM)
    if not isinstance(client_id, str) or not isinstance(deployment, str):
        return None
    scopes = endpoint.get("scope")
    return {
        "client_id": client_id,
        "deployment_id": deployment,
        "lineitems": endpoint["lineitems"],
        "scopes": [s for s in scopes if isinstance(s, str)] if isinstance(scopes, list) else [],
    }
