"""``POST api/identities``: which username a person signing in has (the hub asks; see
``coursehub.service.identities``)."""

from __future__ import annotations

import json

from coursehub.service import identities, lms_links, usernames
from coursehub.service.api.base import BaseHandler, log
from coursehub.service.rules import Refusal


class IdentitiesHandler(BaseHandler):
    """``POST /api/identities``: the hub asks which username a signed-in person has
    (``coursehub.service.identities``). Only the hub's own client may ask: the answer
    decides who a person is."""

    async def post(self):
        if not self.caller.is_hub:
            raise Refusal(403, f"{self.caller} may not resolve identities: only the hub may")
        try:
            body = json.loads(self.request.body or b"null")
        except ValueError:
            raise Refusal(400, "the body is not JSON") from None
        request = identities.parse_request(body)
        sync = self.context.catalog_sync
        reserved = usernames.reservations(sync.file_catalog(), sync.overlay, request["reserved"])
        now = self.context.now()
        resolved = await identities.resolve(self.context.db, request, reserved, now)
        launch = request["launch"] or {}
        if launch.get("lms") is not None:
            # The course's LMS, for grade passback: the newest launch's word counts.
            await self.context.db.run(
                lambda session: lms_links.record(session, launch["course"], launch["lms"], now)
            )
        person = identities.newcomer(request)
        if resolved.choice is not None:
            choice = resolved.choice
            log.info(
                "New %s signs in as %s (%s)", person.describe(), resolved.username, choice.proof
            )
            if choice.collision:
                log.warning("Username collision: new %s: %s", person.describe(), choice.collision)
        if resolved.binding_ignored:
            log.warning(
                "%s is bound to %r in the hub's settings but has had %r since its first "
                "sign-in; usernames never change",
                person.describe(),
                resolved.binding_ignored,
                resolved.username,
            )
        self.write_json(resolved.json())


default_handlers = [("api/identities", IdentitiesHandler)]
