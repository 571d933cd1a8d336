"""Every endpoint of the coursehub service, classified by who may call it, for the token
scope tests (``test_staff_scopes.py``).

``STAFF`` and ``ADMIN`` list the requests that act with staff or admin powers: each names
the handler method it reaches, and a ``control``: the status a token that may use it gets
(a bad body or an unknown name after the permission check, so a control changes nothing
where it can avoid it). ``OTHER`` classifies every remaining handler method (members'
own work, hub-only calls, the public health check), so a new endpoint cannot be missed:
``test_every_endpoint_is_classified`` compares all three with the service's routes.
"""

from __future__ import annotations

from dataclasses import dataclass

COURSE = "ai-101"
ASSIGNMENT = "ps1"
OTHER_STUDENT = "student2"
A = f"courses/{COURSE}/assignments/{ASSIGNMENT}"
# An assignment without source or submissions: actions on it change nothing.
NOPE = f"courses/{COURSE}/assignments/nope"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # under <service>/api/, or "/usage" for the page
    handler: str  # class name of the handler it reaches
    control: int  # what a token that may use it gets
    body: bytes | None = None
    json: dict | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


STAFF = [
    Endpoint("PUT", f"{A}/release", "ReleaseHandler", 400, body=b""),
    Endpoint("DELETE", f"{NOPE}/release", "ReleaseHandler", 404),
    Endpoint("GET", f"{A}/submissions?student={OTHER_STUDENT}", "SubmissionsHandler", 200),
    Endpoint("GET", f"{A}/submissions/{OTHER_STUDENT}/1", "SubmissionHandler", 404),
    Endpoint("GET", f"{A}/feedback?student={OTHER_STUDENT}", "FeedbackListHandler", 200),
    Endpoint("GET", f"{A}/feedback/{OTHER_STUDENT}/1", "FeedbackHandler", 404),
    Endpoint("PUT", f"{A}/feedback/{OTHER_STUDENT}/1", "FeedbackHandler", 400, body=b""),
    Endpoint("POST", f"{NOPE}/actions/release", "ActionHandler", 404),
    Endpoint("POST", f"{NOPE}/actions/collect", "ActionHandler", 200),
    Endpoint("POST", f"{NOPE}/actions/autograde", "ActionHandler", 409),
    Endpoint("POST", f"{NOPE}/actions/feedback", "ActionHandler", 409),
    Endpoint("GET", f"{A}/status", "StatusHandler", 200),
    Endpoint("GET", f"courses/{COURSE}/grades.csv", "GradesHandler", 200),
    Endpoint("GET", "jobs/0123456789abcdef0123456789abcdef", "JobHandler", 404),
    Endpoint("GET", f"courses/{COURSE}/roster", "RosterHandler", 200),
    Endpoint("PUT", f"courses/{COURSE}/roster", "RosterHandler", 400, body=b"username\n"),
    Endpoint("DELETE", f"courses/{COURSE}/roster", "RosterHandler", 404),
    Endpoint("DELETE", f"courses/{COURSE}/members/nobody", "MemberHandler", 404),
    Endpoint("GET", f"gpu/sessions?course={COURSE}", "SessionListHandler", 200),
    Endpoint("GET", f"gpu/usage?course={COURSE}", "UsageHandler", 200),
    Endpoint("GET", "/usage", "UsagePageHandler", 200),
    Endpoint(
        "POST",
        f"{A}/extensions",
        "AssignmentExtensionsHandler",
        404,
        json={"student": "nobody", "minutes": 5, "reason": "control"},
    ),
    Endpoint(
        "POST",
        f"courses/{COURSE}/extensions",
        "CourseExtensionsHandler",
        404,
        json={"student": "nobody", "minutes": 5, "reason": "control"},
    ),
    Endpoint(
        "GET",
        f"courses/{COURSE}/extensions?student={OTHER_STUDENT}",
        "CourseExtensionsHandler",
        200,
    ),
    Endpoint("DELETE", f"courses/{COURSE}/extensions/999999", "ExtensionHandler", 404),
    # No LMS is set up in these tests: the push is refused after the permission check.
    Endpoint("POST", f"{A}/grades/push", "GradesPushHandler", 409),
]

ADMIN = [
    Endpoint(
        "POST",
        "gpu/grants",
        "GrantHandler",
        404,
        json={"course": COURSE, "username": "nobody", "hours": 1},
    ),
    Endpoint("GET", "gpu/sessions", "SessionListHandler", 200),
    Endpoint("GET", "gpu/usage", "UsageHandler", 200),
    Endpoint("GET", "catalog", "CatalogHandler", 200),
    Endpoint("GET", "memberships", "OverlayHandler", 200),
    Endpoint("GET", f"users/{OTHER_STUDENT}/memberships", "UserMembershipsHandler", 200),
    Endpoint("GET", f"gpu/availability?username={OTHER_STUDENT}", "AvailabilityHandler", 200),
    # Admins act as staff in every course, also where they are not staff.
    Endpoint("GET", "courses/ml-201/assignments/lab1/status", "StatusHandler", 200),
    Endpoint("GET", "courses/ml-201/roster", "RosterHandler", 200),
]

# (handler class, method) -> who: everything else, so that the classification is complete.
OTHER = {
    ("MeHandler", "get"): "anyone with a token: their own name and courses",
    ("AssignmentListHandler", "get"): "members: released assignments, their own work",
    ("ReleaseHandler", "get"): "members: fetch a release",
    ("SubmissionsHandler", "post"): "enrolled students: submit",
    ("IdentitiesHandler", "post"): "the hub's own client only",
    ("UserMembershipsHandler", "put"): "the hub's own client only",
    ("AdmissionHandler", "post"): "the hub's own client only",
    ("SessionReportHandler", "post"): "the hub's own client only",
    ("NoticeHandler", "get"): "anyone: their own GPU notices",
    ("HealthHandler", "get"): "anyone, no token",
    ("TelemetryHandler", "post"): "a GPU server's own token, about that server only",
    ("InputsHandler", "get"): "a grading pod with its batch's token (no hub token)",
    ("ResultHandler", "post"): "a grading pod with its batch's token (no hub token)",
    ("ProgressHandler", "post"): "a grading pod with its batch's token (no hub token)",
    ("RefusedHandler", "post"): "a grading pod with its batch's token (no hub token)",
    ("MetricsHandler", "get"): "tokens with read:metrics (Prometheus), which servers never hold",
    ("JWKSHandler", "get"): "anyone, no token: the tool's public keys, for the LMS",
    ("ServiceHomeHandler", "get"): "a redirect to the usage page",
    ("OAuthCallbackHandler", "get"): "the hub's OAuth redirect back to the service",
}

HUB_ONLY = [
    Endpoint("POST", "identities", "IdentitiesHandler", 0, json={}),
    Endpoint("PUT", f"users/{OTHER_STUDENT}/memberships", "UserMembershipsHandler", 0, json={}),
    Endpoint("POST", "gpu/admissions", "AdmissionHandler", 0, json={}),
    Endpoint("POST", "gpu/sessions/started", "SessionReportHandler", 0, json={}),
]
