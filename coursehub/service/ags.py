"""LTI Advantage Assignment and Grade Services (AGS 2.0) as the tool calls them.

- ``public_jwks``: the tool's public key set (``GET <service>/lti/jwks``), the key id being
  the key's RFC 7638 thumbprint, so the LMS can check the tool's signatures.
- ``client_assertion``: the JWT (RS256, the tool's key) the tool proves itself with when it
  asks the LMS's token endpoint for a service token (the client-credentials grant of the
  IMS Security Framework, scopes ``lineitem`` and ``score``).
- ``AGSClient``: the token, finding or creating the line item of an assignment
  (``resourceId`` = the assignment's name), and posting scores
  (``application/vnd.ims.lis.v1.score+json``). A 429 or 5xx answer, or none, is retried with
  a doubling wait (``Retry-After`` honoured up to a minute), four tries at most; the LMS's
  own error body becomes one plain sentence (``plain_error``).

The pure parts (keys, bodies, wording) take plain values; ``AGSClient`` does the HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode, urlsplit, urlunsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
TRIES = 4
MAX_RETRY_AFTER = 60.0


# ----- keys and the client assertion (pure) -----------------------------------------------


def _b64(number: int) -> str:
    data = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(private_pem: str) -> dict:
    """The public half of the tool's RSA key as a JWK, ``kid`` its RFC 7638 thumbprint."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    numbers = load_pem_private_key(private_pem.encode(), password=None).public_key()
    numbers = numbers.public_numbers()
    members = {"e": _b64(numbers.e), "kty": "RSA", "n": _b64(numbers.n)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**members, "kid": kid, "alg": "RS256", "use": "sig"}


def public_jwks(private_pem: str) -> dict:
    return {"keys": [public_jwk(private_pem)]}


def client_assertion(
    private_pem: str, client_id: str, token_url: str, now: float, jti: str | None = None
) -> str:
    """The signed JWT of the client-credentials grant: issued by and about the tool's
    client id, for the token endpoint, valid five minutes, used once (``jti``)."""
    import jwt

    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": int(now),
        "exp": int(now) + 300,
        "jti": jti or uuid.uuid4().hex,
    }
    headers = {"kid": public_jwk(private_pem)["kid"]}
    return jwt.encode(claims, private_pem, algorithm="RS256", headers=headers)


# ----- bodies and wording (pure) ---------------------------------------------------------


def score_body(user_id: str, score: float, max_score: float, timestamp: datetime) -> dict:
    return {
        "userId": user_id,
        "scoreGiven": score,
        "scoreMaximum": max_score,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": timestamp.isoformat(),
    }


def lineitem_body(assignment: str, label: str, max_score: float) -> dict:
    return {"scoreMaximum": max_score, "label": label, "resourceId": assignment}


def scores_url(lineitem_url: str) -> str:
    """``<line item>/scores``, the path appended before any query (AGS 2.0, 3.4)."""
    parts = urlsplit(lineitem_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit(parts._replace(query=query))


def _message_in(body: str) -> str | None:
    """The LMS's own words in an error body: OAuth's ``error_description`` / ``error``,
    Canvas's ``errors[].message``, Moodle's ``message`` / ``reason``, or plain text."""
    try:
        data = json.loads(body)
    except ValueError:
        text = " ".join(body.split())
        return text[:300] if text and not text.startswith("<") else None
    if isinstance(data, dict):
        for key in ("error_description", "message", "reason", "detail", "error"):
            if isinstance(data.get(key), str) and data[key].strip():
                return data[key].strip()
        errors = data.get("errors")
        if isinstance(errors, dict):
            errors = [errors]
        if isinstance(errors, list):
            words = [e.get("message") for e in errors if isinstance(e, dict) and e.get("message")]
            if words:
                return "; ".join(words)
    return None


MEANINGS = {
    400: "it found the request malformed",
    401: "it did not accept coursehub's service token",
    403: "coursehub's registration there lacks the permission",
    404: "it does not know that address (the course's link may be stale: launch the course "
    "from the LMS once again)",
    409: "it holds a newer score",
    422: "it found the request invalid",
}


def plain_error(status: int, body: str, action: str) -> str:
    """One sentence for a refusal: what coursehub tried, the HTTP status, the LMS's own
    message (or what the status means)."""
    if status == 0:
        return f"the LMS did not answer when coursehub tried to {action}: {body}"
    said = _message_in(body)
    meaning = MEANINGS.get(status, "it refused")
    if said:
        return f"the LMS refused to {action} (HTTP {status}): {said}"
    return f"the LMS refused to {action} (HTTP {status}): {meaning}"


def retry_wait(status: int, headers: dict, attempt: int, base: float) -> float | None:
    """Seconds to wait before the next try, or None when the answer is final."""
    if status not in (0, 429) and status < 500:
        return None
    after = headers.get("Retry-After")
    if after is not None:
        try:
            return min(max(float(after), 0.0), MAX_RETRY_AFTER)
        except ValueError:
            pass
    return base * (2**attempt)


# ----- HTTP -------------------------------------------------------------------------------


class LMSError(Exception):
    """A request the LMS refused or never answered; ``str`` is the plain sentence."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Platform:
    """What coursehub knows of one LMS registration (``lms_links``)."""

    client_id: str
    lineitems_url: str
    token_url: str


class AGSClient:
    def __init__(
        self, platform: Platform, tool_key: str, retry_seconds: float = 1.0, timeout: float = 30
    ):
        self.platform = platform
        self.tool_key = tool_key
        self.retry_seconds = retry_seconds
        self.timeout = timeout
        self._token: str | None = None

    async def _request(
        self,
        method: str,
        url: str,
        action: str,
        body: bytes | None = None,
        content_type: str | None = None,
        accept: str = "application/json",
        authorized: bool = True,
    ) -> tuple[int, str]:
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        if authorized:
            headers["Authorization"] = f"Bearer {await self.token()}"
        for attempt in range(TRIES):
            request = HTTPRequest(
                url, method=method, headers=headers, body=body, request_timeout=self.timeout
            )
            status, text, answer_headers = 0, "", {}
            try:
                response = await AsyncHTTPClient().fetch(request)
                return response.code, response.body.decode(errors="replace")
            except HTTPClientError as error:
                status = error.code if error.code != 599 else 0
                if error.response is not None:
                    text = error.response.body.decode(errors="replace")
                    answer_headers = dict(error.response.headers)
                else:
                    text = str(error)
            except OSError as error:
                text = str(error)
            wait = retry_wait(status, answer_headers, attempt, self.retry_seconds)
            if wait is None or attempt == TRIES - 1:
                message = plain_error(status, text, action)
                if wait is not None:
                    message += f" (tried {TRIES} times)"
                raise LMSError(status, message)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def token(self) -> str:
        """The service token for line items and scores (asked for once per client)."""
        if self._token is None:
            form = urlencode(
                {
                    "grant_type": "client_credentials",
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": client_assertion(
                        self.tool_key,
                        self.platform.client_id,
                        self.platform.token_url,
                        time.time(),
                    ),
                    "scope": f"{LINEITEM_SCOPE} {SCORE_SCOPE}",
                }
            ).encode()
            _status, text = await self._request(
                "POST",
                self.platform.token_url,
                "give coursehub a service token",
                form,
                "application/x-www-form-urlencoded",
                authorized=False,
            )
            try:
                self._token = json.loads(text)["access_token"]
            except (ValueError, KeyError, TypeError):
                raise LMSError(200, "the LMS's token endpoint answered without a token") from None
        return self._token

    async def lineitem(self, assignment: str, label: str, max_score: float) -> str:
        """The URL of the assignment's line item (``resourceId`` = ``assignment``), created
        when the course has none yet."""
        url = with_query(self.platform.lineitems_url, resource_id=assignment)
        _status, text = await self._request(
            "GET", url, f"list the line items of {assignment}", accept=LINEITEMS_TYPE
        )
        try:
            items = json.loads(text)
        except ValueError:
            raise LMSError(200, f"the LMS's line items of {assignment} are not JSON") from None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and item.get("resourceId") == assignment and item.get("id"):
                return item["id"]
        body = json.dumps(lineitem_body(assignment, label, max_score)).encode()
        _status, text = await self._request(
            "POST",
            self.platform.lineitems_url,
            f"create the line item of {assignment}",
            body,
            LINEITEM_TYPE,
            accept=LINEITEM_TYPE,
        )
        try:
            return json.loads(text)["id"]
        except (ValueError, KeyError, TypeError):
            raise LMSError(200, f"the LMS created {assignment}'s line item without an id") from None

    async def post_score(self, lineitem_url: str, body: dict, student: str) -> None:
        await self._request(
            "POST",
            scores_url(lineitem_url),
            f"take {student}'s score",
            json.dumps(body).encode(),
            SCORE_TYPE,
        )
