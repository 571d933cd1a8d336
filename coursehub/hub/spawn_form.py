"""The spawn page's form: the user's environments, and under each GPU environment what is
free now. Rendered by coursehub (``templates/spawn_form.html``, autoescaped) rather than
KubeSpawner's profile form, because that form has no place for live numbers; the field it
posts (``profile``) is the one KubeSpawner's ``options_from_form`` reads."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from coursehub.gpu.availability import Line

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
)


def render_spawn_form(
    profiles: list[dict], availability: dict[str, list[Line]], previous: str | None
) -> str:
    """``previous``: the profile of the user's last start, selected again when it is still
    offered; else the default profile, else the first."""
    slugs = [profile["slug"] for profile in profiles]
    selected = previous if previous in slugs else None
    if selected is None:
        selected = next((p["slug"] for p in profiles if p.get("default")), None)
    if selected is None and slugs:
        selected = slugs[0]
    return _TEMPLATES.get_template("spawn_form.html").render(
        profiles=profiles, availability=availability, selected=selected
    )
