"""Student markdown and HTML, made safe to show to staff on the hub's origin.

The formgrader renders a submission with nbconvert's HTMLExporter and nbgrader's "formgrade"
template. ``sanitize_html = True`` makes nbconvert's templates pass outputs through the
``clean_html`` filter and drop JavaScript outputs, but the formgrade template renders
markdown cells with ``markdown2html`` alone, and nbconvert's own ``clean_html`` escapes
ordinary markup (paragraphs, headings, images) into visible tags. The formgrader's config
therefore replaces both filters (``HTMLExporter.filters``) with the two here:

- ``clean_html``: an allow-list sanitizer: text formatting, headings, lists, tables, code,
  links and images; no script, style or frame elements, no event handlers, no ``id`` or
  ``name`` (which could clobber the formgrader's own globals), URLs limited to http(s),
  mailto and, for images only, ``data:image/``; CSS properties filtered.
- ``markdown2html``: nbconvert's markdown renderer (with the cell's attachments), then
  ``clean_html``.
"""

from __future__ import annotations

import bleach
from bleach.css_sanitizer import CSSSanitizer
from jinja2 import pass_context
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

TAGS = frozenset(
    {
        *("a", "abbr", "acronym", "b", "blockquote", "br", "caption", "cite", "code", "col"),
        *("colgroup", "dd", "del", "details", "div", "dl", "dt", "em", "figcaption", "figure"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark"),
        *("ol", "p", "pre", "q", "s", "samp", "small", "span", "strike", "strong", "sub"),
        *("summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u"),
        *("ul", "var"),
    }
)
ANY_TAG_ATTRIBUTES = frozenset({"class", "title", "align", "lang", "dir", "style"})
TAG_ATTRIBUTES = {
    "a": {"href", "rel", "target"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start", "type"},
    "col": {"span"},
    "colgroup": {"span"},
}
PROTOCOLS = frozenset({"http", "https", "mailto", "data"})


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    if name in ANY_TAG_ATTRIBUTES or name in TAG_ATTRIBUTES.get(tag, ()):
        if value.strip().lower().startswith("data:"):
            # Inline images only: a data: link would open student HTML when clicked.
            return (
                tag == "img" and name == "src" and value.strip().lower().startswith("data:image/")
            )
        return True
    return False


_CLEANER = bleach.Cleaner(
    tags=TAGS,
    attributes=_allowed_attribute,
    protocols=PROTOCOLS,
    strip=True,
    strip_comments=True,
    css_sanitizer=CSSSanitizer(),
)


def clean_html(element: str | bytes) -> str:
    text = element.decode() if isinstance(element, bytes) else str(element)
    return _CLEANER.clean(text)


@pass_context
def markdown2html(context, source: str) -> str:
    """nbconvert's markdown rendering (math kept for MathJax, attachments inlined), cleaned."""
    cell = context.get("cell") or {}
    resources = context.get("resources") or {}
    renderer = IPythonRenderer(
        escape=False,
        attachments=cell.get("attachments", {}),
        path=resources.get("metadata", {}).get("path", ""),
    )
    return clean_html(MarkdownWithMath(renderer=renderer).render(source))
