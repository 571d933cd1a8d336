"""Spawns from links (review §11): which navigations may start a server, the one-time
tickets of LTI deep links, and ``CourseSpawner.options_from_query`` on real requests."""

from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

from coursehub.hub.spawn_guard import (
    TICKET_ARGUMENT,
    SpawnTickets,
    starts_from_query,
    with_ticket,
)
from coursehub.hub.spawner import SpawnNeedsConfirmation, spawn_form


@pytest.mark.parametrize(
    ("fetch_site", "ticket", "starts"),
    [
        ("same-origin", False, True),  # the hub's own pages
        ("none", False, True),  # typed, bookmarked
        ("cross-site", False, False),  # a forum post's link or iframe
        ("same-site", False, False),  # another host of the university (the LMS)
        (None, False, False),  # no header: an old browser or a script
        ("cross-site", True, True),  # an LTI launch's deep link
    ],
)
def test_who_may_start_a_server_from_a_link(fetch_site, ticket, starts):
    assert starts_from_query(fetch_site, ticket) is starts


def test_a_ticket_works_once_for_its_user_and_profile_until_it_expires():
    now = [1000.0]
    tickets = SpawnTickets(seconds=60, clock=lambda: now[0])
    ticket = tickets.mint("kim", "ai-101-gpu")
    assert not tickets.redeem("mallory", "ai-101-gpu", ticket)
    assert not tickets.redeem("kim", "ai-101-cpu", ticket)
    assert not tickets.redeem("kim", "ai-101-gpu", None)
    assert tickets.redeem("kim", "ai-101-gpu", ticket)
    assert not tickets.redeem("kim", "ai-101-gpu", ticket), "once only"
    late = tickets.mint("kim", "ai-101-gpu")
    now[0] = 1061.0
    assert not tickets.redeem("kim", "ai-101-gpu", late), "expired"


def test_a_deep_link_gets_a_ticket_for_its_profile():
    tickets = SpawnTickets()
    target = "/hub/spawn?profile=ai-101-gpu&next=%2Fhub%2Fuser-redirect%2Flab%2Ftree%2Fps1"
    linked = with_ticket(target, tickets, "kim")
    query = parse_qs(urlsplit(linked).query)
    assert query["profile"] == ["ai-101-gpu"]
    assert query["next"] == ["/hub/user-redirect/lab/tree/ps1"]
    assert tickets.redeem("kim", "ai-101-gpu", query[TICKET_ARGUMENT][0])
    assert with_ticket("/hub/spawn", tickets, "kim") == "/hub/spawn"


def spawn_request(spawner, **headers) -> None:
    """Give the spawner the request of ``GET /hub/spawn?profile=…`` with ``headers``, as
    JupyterHub's SpawnHandler does (``spawner.handler = self``) before it asks
    ``options_from_query``; the spawner reads only ``handler.request``. The integration
    tests send the same through the real hub."""
    request = HTTPServerRequest(
        start_line=RequestStartLine("GET", "/hub/spawn?profile=ai-101-gpu", "HTTP/1.1"),
        headers=HTTPHeaders(
            {"Host": "hub.example.edu", **{k.replace("_", "-"): v for k, v in headers.items()}}
        ),
    )
    spawner.handler = SimpleNamespace(request=request)


QUERY = {"profile": ["ai-101-gpu"]}


async def test_options_from_query_start_a_server_for_the_hubs_own_pages(make_spawner):
    spawner = make_spawner("student1")
    spawn_request(spawner, Sec_Fetch_Site="same-origin", Sec_Fetch_Mode="navigate")
    assert spawner.options_from_query(dict(QUERY)) == {"profile": "ai-101-gpu"}


async def test_options_from_query_from_another_site_ask_to_confirm(make_spawner):
    spawner = make_spawner("student1")
    spawn_request(spawner, Sec_Fetch_Site="cross-site", Sec_Fetch_Dest="iframe")
    with pytest.raises(SpawnNeedsConfirmation) as asked:
        spawner.options_from_query(dict(QUERY))
    assert "this link did not start “AI-101 · PyTorch · 1 GPU” by itself" in (
        asked.value.jupyterhub_message
    )
    assert spawner.requested_profile == "ai-101-gpu", "preselected on the form"


async def test_options_from_query_with_the_launch_ticket_start_once(make_spawner):
    tickets = SpawnTickets()
    spawner = make_spawner("student1", spawn_tickets=lambda: tickets)
    ticket = tickets.mint("student1", "ai-101-gpu")
    spawn_request(spawner, Sec_Fetch_Site="cross-site", Sec_Fetch_Dest="document")
    query = {**QUERY, TICKET_ARGUMENT: [ticket]}
    assert spawner.options_from_query(dict(query)) == {"profile": "ai-101-gpu"}
    with pytest.raises(SpawnNeedsConfirmation):
        spawner.options_from_query(dict(query))


async def test_the_form_shown_instead_has_the_links_environment_selected(make_spawner):
    spawner = make_spawner("student1")
    spawn_request(spawner, Sec_Fetch_Site="cross-site")
    with pytest.raises(SpawnNeedsConfirmation):
        spawner.options_from_query({"profile": ["ai-101-cpu"]})  # not the default (gpu)
    checked = re.compile(r'id="profile-item-([\w-]+)"\s+value="[\w-]+" checked')
    assert checked.findall(await spawn_form(spawner)) == ["ai-101-cpu"]
    # Only for that one form: the next shows the default again.
    assert checked.findall(await spawn_form(spawner)) == ["ai-101-gpu"]
