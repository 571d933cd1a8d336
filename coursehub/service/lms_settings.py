"""Grade passback settings (``COURSEHUB_LMS_*``, data in ``coursehub.envvars``, owner
``LMSSettings``; listed in docs/lms.md): the tool's private key, the LMS's token URL,
whether feedback also pushes grades, and the first retry wait.

Passback is on when both the key and the token URL are set. The key is checked at start:
a key that is not an RSA private key in PEM stops the service with the variable's name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from coursehub.envvars import Environment, SettingsError


@dataclass(frozen=True)
class LMSSettings:
    tool_key: str = field(default="", repr=False)
    token_url: str = ""
    push_after_feedback: bool = False
    retry_seconds: float = 1.0

    @property
    def enabled(self) -> bool:
        return bool(self.tool_key and self.token_url)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> LMSSettings:
        environ = os.environ if environ is None else environ
        dev = environ.get("COURSEHUB_MODE") == "dev"
        env = Environment(environ, "LMSSettings", dev)
        settings = cls(
            tool_key=env("COURSEHUB_LMS_TOOL_KEY") or "",
            token_url=env("COURSEHUB_LMS_TOKEN_URL") or "",
            push_after_feedback=env("COURSEHUB_LMS_PUSH_AFTER_FEEDBACK"),
            retry_seconds=env("COURSEHUB_LMS_RETRY_SECONDS"),
        )
        if settings.tool_key:
            check_private_key(settings.tool_key)
        return settings


def check_private_key(pem: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise SettingsError(
            "COURSEHUB_LMS_TOOL_KEY=<hidden>: not a PEM private key without a passphrase; "
            "e.g. the output of `openssl genrsa 2048`"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SettingsError(
            "COURSEHUB_LMS_TOOL_KEY=<hidden>: not an RSA key (LTI signs with RS256); "
            "e.g. the output of `openssl genrsa 2048`"
        )
