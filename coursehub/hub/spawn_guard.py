"""Spawns from a link: ``GET /hub/spawn?profile=…`` starts a server only when the person
meant it. Pure, no I/O.

JupyterHub starts a server straight from the query arguments of ``GET /hub/spawn`` and
checks no XSRF token on a navigation. So a link on any site, or (in LTI mode, whose
cookies are ``SameSite=None``) a hidden ``<iframe>``, would start the visitor's GPU server
and spend their hours. ``CourseSpawner.options_from_query`` therefore starts a server from
query arguments only when

- the browser says the navigation came from the hub's own pages or from the person
  (``Sec-Fetch-Site: same-origin`` or ``none``: typed, bookmarked), or
- the link carries a one-time ticket minted for this user and environment by their LTI
  launch (the launch's redirect is cross-site by nature: it comes from the LMS).

Otherwise the spawn form is shown, with the environment preselected, and the person starts
it with one click (a POST, which JupyterHub checks for XSRF).
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

# The query argument of a launch's deep link that carries its ticket.
TICKET_ARGUMENT = "launch_ticket"
# Sec-Fetch-Site values of a navigation a person started on the hub or by hand.
OWN_NAVIGATION = frozenset({"same-origin", "none"})


def starts_from_query(fetch_site: str | None, ticket_redeemed: bool) -> bool:
    """May ``GET /hub/spawn?…`` start a server? ``fetch_site`` is the request's
    ``Sec-Fetch-Site`` header (None when absent: an old browser or a script, which gets the
    form as well)."""
    return ticket_redeemed or fetch_site in OWN_NAVIGATION


class SpawnTickets:
    """One-time tickets for the deep links LTI launches redirect to, each for one user and
    one profile, valid ``seconds`` (the browser follows the redirect at once)."""

    def __init__(self, seconds: float = 300, clock=time.time):
        self.seconds = seconds
        self.clock = clock
        self._tickets: dict[str, tuple[str, str, float]] = {}

    def mint(self, username: str, profile: str) -> str:
        now = self.clock()
        self._tickets = {key: item for key, item in self._tickets.items() if item[2] > now}
        ticket = secrets.token_urlsafe(24)
        self._tickets[ticket] = (username, profile, now + self.seconds)
        return ticket

    def redeem(self, username: str, profile: str | None, ticket: str | None) -> bool:
        """True once for a live ticket of this user and profile; the ticket is gone then."""
        if not ticket:
            return False
        item = self._tickets.get(ticket)
        if item is None or item[2] <= self.clock() or item[:2] != (username, profile):
            return False
        del self._tickets[ticket]
        return True


def with_ticket(target: str, tickets: SpawnTickets, username: str) -> str:
    """``target`` (a hub path such as ``/hub/spawn?profile=ai-101-cpu&next=…``) with a
    ticket for its profile added; unchanged when it starts no profile."""
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    profile = (query.get("profile") or [None])[0]
    if profile is None:
        return target
    ticket = tickets.mint(username, profile)
    pairs = [(key, value) for key, values in query.items() for value in values]
    pairs.append((TICKET_ARGUMENT, ticket))
    return urlunsplit(parts._replace(query=urlencode(pairs)))
