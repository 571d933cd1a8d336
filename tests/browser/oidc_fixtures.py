"""A real OpenID Connect provider (npm ``oidc-provider``) and a token-endpoint tamperer for
the sign-in tests.

- ``OIDCProvider``: runs ``tests/browser/oidc_provider.mjs`` with node on a free port, with
  an RS256 key made here (so tests can sign tokens the provider would never issue) and an
  accounts file the provider re-reads at every lookup. Stopped by its pid.
- ``TokenTamperer``: an aiohttp server the hub uses as its token endpoint. It forwards to
  the provider's and, when ``mode`` says so, changes the ID token on its way to the hub:
  ``tamper`` edits its payload (the signature no longer matches), ``expire`` re-signs it
  with the provider's own key and an expiry an hour ago.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import aiohttp
import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from coursehub.dev.platform import REPO_ROOT
from coursehub.dev.processes import free_port

PROVIDER_SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
CLIENT_ID = "coursehub-tests"
CLIENT_SECRET = "not-a-real-secret-but-long-enough-for-the-provider"


def signing_key() -> tuple[rsa.RSAPrivateKey, dict]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    jwk.update({"kid": "tests-1", "alg": "RS256", "use": "sig"})
    return key, jwk


class OIDCProvider:
    def __init__(self, state_dir: Path, redirect_uri: str, accounts: dict[str, dict]):
        self.state_dir = Path(state_dir)
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key, self.jwk = signing_key()
        self.accounts_file = self.state_dir / "oidc-accounts.json"
        self.redirect_uri = redirect_uri
        self.log_path = self.state_dir / "logs" / "oidc-provider.log"
        self.process: subprocess.Popen | None = None
        self.set_accounts(accounts)

    def set_accounts(self, accounts: dict[str, dict]) -> None:
        self.accounts = accounts
        self.accounts_file.write_text(json.dumps(accounts))

    def start(self) -> OIDCProvider:
        config = {
            "issuer": self.issuer,
            "port": self.port,
            "client": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [self.redirect_uri],
            },
            "jwk": self.jwk,
            "accounts_file": str(self.accounts_file),
        }
        config_path = self.state_dir / "oidc-provider.json"
        config_path.write_text(json.dumps(config))
        node = shutil.which("node")
        assert node, "node not found: scripts/bootstrap.sh installs Node.js"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [node, str(PROVIDER_SCRIPT), str(config_path)],
                cwd=REPO_ROOT,  # node_modules/oidc-provider
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, "NODE_ENV": "test"},
            )
        deadline = time.monotonic() + 30
        url = f"{self.issuer}/.well-known/openid-configuration"
        while True:
            assert self.process.poll() is None, self.log_path.read_text()
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    self.discovery = json.load(response)
                    return self
            except OSError:
                assert time.monotonic() < deadline, self.log_path.read_text()
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenTamperer:
    def __init__(self, provider: OIDCProvider):
        self.provider = provider
        self.mode = "pass"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/token"
        self.runner: web.AppRunner | None = None
        self.seen: list[str] = []

    async def start(self) -> TokenTamperer:
        app = web.Application()
        app.router.add_post("/token", self.token)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def token(self, request: web.Request) -> web.Response:
        headers = {
            key: value
            for key, value in request.headers.items()
            if key.lower() in ("authorization", "content-type", "accept")
        }
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                self.provider.discovery["token_endpoint"],
                data=await request.read(),
                headers=headers,
            ) as answer,
        ):
            body = await answer.json()
            status = answer.status
        if status == 200 and "id_token" in body:
            body["id_token"] = self.change(body["id_token"])
            self.seen.append(self.mode)
        return web.json_response(body, status=status)

    def change(self, id_token: str) -> str:
        header, payload, signature = id_token.split(".")
        claims = json.loads(_unb64(payload))
        if self.mode == "tamper":
            claims["groups"] = ["coursehub:admin", "ai-101:instructor"]
            return ".".join([header, _b64(json.dumps(claims).encode()), signature])
        if self.mode == "expire":
            now = int(time.time())
            claims.update(iat=now - 7200, exp=now - 3600)
            return jwt.encode(claims, self.provider.key, "RS256", headers={"kid": "tests-1"})
        return id_token
