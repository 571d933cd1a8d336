"""Which username a person signing in for the first time gets: pure, no I/O.

**Reserved names.** Every username that a course file lists (staff, students, its roster
file), that an imported roster lists, or that the hub reserves (its admin list, and names
its settings bind to an identity) is *reserved*: it goes only to an identity that proves
it is that person, never to whoever signs in first with a name that looks the same.

**Proof** of a reserved name, one of:

- a *binding*: the hub's settings bind this identity (issuer + subject) to the name;
- a *verified e-mail* (the provider says ``email_verified: true``, or the LMS is trusted for
  e-mail) equal, ignoring ASCII case, to an address listed for the name: the course file's
  ``emails``, its roster file's ``email`` column, or an imported roster's ``email`` column.
  Any course's staff may import a roster, so an import's address counts only for a name
  that no course file lists and the hub does not reserve (else a TA could hand themselves
  another course's staff name, a student of another course or an admin's name), and only
  when every import that lists the name gives the same address.

**Choice** (``choose``), for an identity the store has never seen:

1. the name its binding names, if no other identity has it;
2. a reserved name its verified e-mail is listed for, if no other identity has it (the
   derived name first, when it is one of them; several others: none, and a log line);
3. the name derived from its claims (``base_username``) if it is neither reserved nor
   taken;
4. otherwise the first free ``<derived>-2``, ``-3``, ... that is neither taken nor
   reserved, and a sentence for the log naming the collision. Never an existing account.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from coursehub.catalog import Catalog
from coursehub.catalog.overlay import Overlay
from coursehub.signin.rules import next_free_username

Proof = Literal["binding", "email", "derived", "suffixed"]


def _address(email: str) -> str:
    """E-mail addresses compare ignoring ASCII case only (no other folding)."""
    return email.strip().lower() if email.isascii() else email.strip()


@dataclass(frozen=True)
class Reservations:
    """The reserved names and, per name, the addresses that prove it."""

    names: frozenset[str] = frozenset()
    emails: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        index: dict[str, set[str]] = {}
        for name, addresses in self.emails.items():
            for address in addresses:
                index.setdefault(address, set()).add(name)
        object.__setattr__(self, "_by_address", index)

    def listed_for(self, email: str) -> list[str]:
        """The reserved names ``email`` proves, sorted."""
        return sorted(self._by_address.get(_address(email), ()))


def reservations(
    file_catalog: Catalog, overlay: Overlay, hub_reserved: Iterable[str] = ()
) -> Reservations:
    """Reserved names from the course files (``file_catalog``), the service's imported
    rosters and sign-in memberships (``overlay``) and the hub (``hub_reserved``)."""
    by_hub = set(hub_reserved)
    emails: dict[str, set[str]] = {}
    in_files: set[str] = set()
    for course in file_catalog.courses.values():
        in_files.update(course.staff.all)
        in_files.update(course.students)
        for name, email in course.emails.items():
            emails.setdefault(name, set()).add(_address(email))
    imported: dict[str, set[str]] = {}
    for roster in overlay.rosters:
        for entry in roster.entries:
            addresses = imported.setdefault(entry.username, set())
            if entry.email:
                addresses.add(_address(entry.email))
    for name, addresses in imported.items():
        if name not in in_files | by_hub and len(addresses) == 1:
            emails[name] = addresses
    names = by_hub | in_files | set(imported)
    names.update(membership.username for membership in overlay.memberships)
    return Reservations(
        frozenset(names), {name: frozenset(found) for name, found in emails.items()}
    )


@dataclass(frozen=True)
class Newcomer:
    """What the hub says about an identity signing in: ``bound`` is the name its settings
    bind the identity to (or None); ``email_verified`` is True only when the provider
    vouches for ``email``."""

    issuer: str
    subject: str
    email: str | None = None
    email_verified: bool = False
    bound: str | None = None

    @property
    def verified_email(self) -> str | None:
        return self.email if self.email and self.email_verified else None

    def describe(self) -> str:
        if not self.email:
            mail = "no e-mail"
        else:
            mail = f"{'verified' if self.email_verified else 'unverified'} e-mail {self.email}"
        return f"identity {self.subject!r} of {self.issuer} ({mail})"


@dataclass(frozen=True)
class Choice:
    username: str
    proof: Proof
    # Why the identity did not get a name it derived or was bound to (for the log).
    collision: str | None = None


def names_to_look_up(newcomer: Newcomer, base: str, reserved: Reservations) -> set[str]:
    """Names whose holders ``choose`` needs to know, besides ``<base>-*``."""
    wanted = {base}
    if newcomer.bound:
        wanted.add(newcomer.bound)
    if newcomer.verified_email:
        wanted.update(reserved.listed_for(newcomer.verified_email))
    return wanted


def choose(newcomer: Newcomer, base: str, reserved: Reservations, taken: set[str]) -> Choice:
    """The username of a new identity whose claims derive ``base``; ``taken`` holds the
    names other identities have (at least those of ``names_to_look_up`` and ``base-*``)."""
    notes: list[str] = []
    if newcomer.bound:
        if newcomer.bound not in taken:
            return Choice(newcomer.bound, "binding")
        notes.append(
            f"the hub's settings bind it to {newcomer.bound!r}, which another identity already has"
        )
    email = newcomer.verified_email
    if email:
        listed = reserved.listed_for(email)
        free = [name for name in listed if name not in taken]
        if base in free:
            return Choice(base, "email")
        if len(free) == 1:
            return Choice(free[0], "email")
        if len(free) > 1:
            notes.append(
                f"its verified e-mail is listed for several names ({', '.join(free)}), so "
                "it proves none of them"
            )
        elif listed:
            notes.append(
                f"its verified e-mail is listed for {', '.join(listed)}, which another "
                "identity already has"
            )
    if base not in taken and base not in reserved.names:
        return Choice(base, "derived", "; ".join(notes) or None)
    if base in taken:
        why = f"{base!r} belongs to another identity"
    else:
        why = (
            f"{base!r} is reserved (a course file, roster or the hub's admin list names it) "
            "and this identity did not prove it (a verified e-mail listed for the name, or "
            "a binding in the hub's settings)"
        )
    username = next_free_username(base, taken | reserved.names)
    return Choice(username, "suffixed", "; ".join([why, *notes]) + f"; it gets {username!r}")
