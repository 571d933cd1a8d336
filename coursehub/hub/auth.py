"""Demo sign-in for development: one generated password per catalog user and ``admin``.

Passwords live in ``<state-dir>/demo-passwords.json`` (mode 0600), created on first start
and extended when the catalog gains users; ``coursehub dev`` prints them. Only users the
current catalog knows (and the admin) may sign in. Not for production: production uses
the university's OAuth/SAML authenticator, configured through Helm.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from jupyterhub.auth import Authenticator
from traitlets import Callable, Unicode

ADMIN_USERNAME = "admin"


def read_passwords(path: Path) -> dict[str, str]:
    """The stored passwords; an empty dict if the file does not exist yet."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return {}
    passwords = json.loads(text)
    if not isinstance(passwords, dict):
        raise ValueError(f"{path}: expected a JSON object of username -> password")
    return {str(name): str(password) for name, password in passwords.items()}


def ensure_passwords(path: Path, usernames: Iterable[str]) -> dict[str, str]:
    """Give every name in ``usernames`` a password (existing ones are kept) and return all.

    Writes the file only when a password was added, atomically and readable by the
    owner only.
    """
    path = Path(path)
    passwords = read_passwords(path)
    missing = sorted(set(usernames) - set(passwords))
    if not missing:
        return passwords
    for name in missing:
        passwords[name] = secrets.token_urlsafe(9)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(dict(sorted(passwords.items())), file, indent=2)
        file.write("\n")
    partial.replace(path)
    return passwords


class DemoAuthenticator(Authenticator):
    """Username + generated password, for users of the current catalog and the admin."""

    passwords_file = Unicode(
        help="JSON file mapping usernames to their demo passwords.",
    ).tag(config=True)

    known_usernames = Callable(
        help="""Called without arguments; returns the usernames that may sign in now
        (the catalog's users plus the admin). Read at every sign-in, so roster changes
        apply without a restart.""",
    ).tag(config=True)

    async def authenticate(self, handler, data):
        username = self.normalize_username((data or {}).get("username", ""))
        password = (data or {}).get("password", "")
        stored = read_passwords(Path(self.passwords_file)).get(username)
        if stored is None or not hmac.compare_digest(stored.encode(), str(password).encode()):
            self.log.warning("Demo sign-in refused for %r", username)
            return None
        return {"name": username}

    def check_allowed(self, username, authentication=None):
        return username in self.known_usernames()
