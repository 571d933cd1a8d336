"""Production's formgraders as the hub learns them: the chart's formgrader Secret, mounted
in the hub's pod at ``COURSEHUB_FORMGRADERS_DIR``.

The folder holds ``formgraders.json``, ``{"<course>": {"url": "http://…:<port>"}}`` (where
the coursehub service's pod serves that course's formgrader), and one ``<course>.token`` per
course, the formgrader's hub API token (the same Secret key its container reads). The
chart renders both from its catalog; ``formgrader.enabled: false`` renders no Secret, and
the optional mount is then an empty folder: no formgraders.

``parse_registry`` is pure; ``read_registry`` reads the folder. Problems name the file and
the field.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from coursehub.catalog.model import SLUG_PATTERN

REGISTRY_FILE = "formgraders.json"
TOKEN_SUFFIX = ".token"


class RegistryError(ValueError):
    """The formgrader registry is malformed; the message names the file and field."""


def parse_registry(
    folder: Path, listing: str | None, tokens: dict[str, str]
) -> dict[str, tuple[str, str]]:
    """course id -> (url, API token) from ``formgraders.json``'s text (``None``: absent)
    and the tokens by course id."""
    where = Path(folder) / REGISTRY_FILE
    if listing is None:
        return {}
    try:
        entries = json.loads(listing)
    except ValueError as error:
        raise RegistryError(f"{where}: not JSON ({error})") from None
    if not isinstance(entries, dict):
        raise RegistryError(f"{where}: expected an object of courses, got {type(entries).__name__}")
    registry = {}
    for course_id, entry in sorted(entries.items()):
        if not re.fullmatch(SLUG_PATTERN, course_id):
            raise RegistryError(f"{where}: {course_id!r}: not a course id")
        url = entry.get("url") if isinstance(entry, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise RegistryError(f"{where}: {course_id}.url: expected an http(s) URL, got {url!r}")
        token = tokens.get(course_id, "").strip()
        if not token:
            raise RegistryError(
                f"{Path(folder) / (course_id + TOKEN_SUFFIX)}: missing or empty: the "
                f"formgrader of {course_id} needs its API token"
            )
        registry[course_id] = (url, token)
    return registry


def read_registry(folder: Path) -> dict[str, tuple[str, str]]:
    """The registry in ``folder``; empty when the folder or its listing is absent."""
    folder = Path(folder)
    listing_file = folder / REGISTRY_FILE
    listing = listing_file.read_text() if listing_file.is_file() else None
    tokens = {
        path.name.removesuffix(TOKEN_SUFFIX): path.read_text()
        for path in (folder.glob(f"*{TOKEN_SUFFIX}") if folder.is_dir() else ())
    }
    return parse_registry(folder, listing, tokens)
