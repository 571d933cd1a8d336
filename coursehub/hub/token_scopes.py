"""What the tokens notebook servers hold may do, and coursehub's custom scope: pure.

Two kinds of tokens live in a notebook server, which its owner controls:

- its own API token (``JUPYTERHUB_API_TOKEN``, ``Spawner.server_token_scopes``): JupyterHub's
  default ``server`` role (post activity, be reached) plus calling the coursehub service as
  its owner, for the exchange plugin;
- the OAuth tokens the hub issues for the server to everyone who opens it
  (``Spawner.oauth_client_allowed_scopes``; by default: only reaching that server).

Neither may ever carry ``STAFF_SCOPE``, which the coursehub service requires for staff and
admin actions, nor ``inherit`` (everything the owner may do); visitors' tokens may not call
the service at all. ``configure`` refuses a configuration that would give them any of it.
"""

from __future__ import annotations

from collections.abc import Iterable

from coursehub.names import STAFF_SCOPE, service_access_scope

CUSTOM_SCOPES = {
    STAFF_SCOPE: {
        "description": "Act as course staff or admin in the coursehub service "
        "(in the courses you teach; everywhere for admins).",
    }
}
# JupyterHub's default "server" role, which servers' tokens get unless configured.
SERVER_ROLE_SCOPES = ("users:activity!user", "access:servers!server")


class ServerScopeError(ValueError):
    """A configured server token scope would let a server act as staff."""


def _escalations(scopes: Iterable[str], service_name: str, visitors: bool) -> list[str]:
    """The scopes that would act as staff (and, for ``visitors``, call the service)."""
    calling = {"access:services", service_access_scope(service_name)} if visitors else set()

    def staff(scope: str) -> bool:
        base = scope.split("!", 1)[0]
        return scope == "inherit" or base == STAFF_SCOPE or base.startswith(f"{STAFF_SCOPE}:")

    return [scope for scope in scopes if staff(scope) or scope in calling]


def server_token_scopes(configured: Iterable[str] | None, service_name: str) -> list[str]:
    """``Spawner.server_token_scopes``: what is configured (else JupyterHub's ``server``
    role) plus calling the coursehub service. Raises ``ServerScopeError`` for a configured
    scope that would let the token act as staff."""
    scopes = list(configured or SERVER_ROLE_SCOPES)
    bad = _escalations(scopes, service_name, visitors=False)
    if bad:
        raise ServerScopeError(
            f"Spawner.server_token_scopes must not contain {', '.join(bad)}: every notebook "
            f"server's token would then act as its owner's staff or admin self in the "
            f"{service_name} service"
        )
    access = service_access_scope(service_name)
    return scopes if access in scopes else [*scopes, access]


def check_oauth_client_scopes(configured: Iterable[str] | None, service_name: str) -> None:
    """``Spawner.oauth_client_allowed_scopes`` (visitors' tokens, left in the server) may
    not carry staff powers nor call the coursehub service."""
    bad = _escalations(configured or (), service_name, visitors=True)
    if bad:
        raise ServerScopeError(
            f"Spawner.oauth_client_allowed_scopes must not contain {', '.join(bad)}: the "
            "token of everyone who opens a server stays in that server, which its owner "
            f"controls, and could then act in the {service_name} service"
        )
