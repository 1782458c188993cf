"""Making a message's HTML (and plain text) safe to show inside the webmail's own page.

nh3 (ammonia, in Rust) parses with html5ever, as a browser would, and writes back only an allowlist of
tags, attributes, URL schemes and style properties; scripts, event handlers, forms, frames, plugins and
<style>/<meta>/<link>/<base> never come out. One attribute_filter callback then decides each URL we
allow (links, image sources, table backgrounds), because nh3 checks URL schemes once, globally, and
*before* that callback: what the callback returns is not checked again (ammonia 0.3.8 behaviour), and
relative URLs (which would resolve against the webmail's own origin) are ours to refuse.

Remote images are tracking beacons, so unless the reader allowed them they are removed and counted; cid:
references become the caller's same-origin URLs for the message's own parts.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

import nh3

__all__ = ["SanitizedHtml", "sanitize_html", "text_to_html"]


@dataclass(frozen=True, slots=True)
class SanitizedHtml:
    html: str
    blocked_remote: int  # remote resources (images, backgrounds) removed because remote loading was off


# Formatting and tables; nothing that runs, submits, embeds or changes the page outside the message.
_TAGS = frozenset(nh3.ALLOWED_TAGS | {"font", "tfoot", "big", "address", "section", "main"})
# Removed with their content: what a browser would never show as text (html5ever parses a whole
# document as a fragment, so a <head>'s <title> would otherwise become body text).
_CLEAN_CONTENT_TAGS = frozenset({"script", "style", "title", "xml", "template", "noscript"})

_GENERIC_ATTRIBUTES = frozenset({"style", "title", "dir", "lang", "align", "valign"})
_TABLE_ATTRIBUTES = frozenset({"bgcolor", "background", "width", "height", "border", "cellpadding", "cellspacing"})
_ATTRIBUTES: dict[str, set[str]] = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()}
_ATTRIBUTES["*"] = set(_GENERIC_ATTRIBUTES)
_ATTRIBUTES["img"] = {"src", "srcset", "alt", "width", "height", "border", "hspace", "vspace"}
_ATTRIBUTES["font"] = {"color", "face", "size"}
for _tag in ("table", "td", "th", "tr", "tbody", "thead", "tfoot"):
    _ATTRIBUTES[_tag] = _ATTRIBUTES.get(_tag, set()) | _TABLE_ATTRIBUTES | {"colspan", "rowspan", "nowrap"}

# Inline style properties that can neither fetch anything (no <url>/<image> values: background-image,
# border-image, list-style-image, cursor, content are out) nor escape the message's box (no position,
# z-index, transform).
_STYLE_PROPERTIES = frozenset(
    {
        "color",
        "background-color",
        "font",
        "font-family",
        "font-size",
        "font-style",
        "font-variant",
        "font-weight",
        "text-align",
        "text-decoration",
        "text-indent",
        "text-transform",
        "line-height",
        "letter-spacing",
        "word-spacing",
        "white-space",
        "vertical-align",
        "direction",
        "display",
        "float",
        "clear",
        "list-style-type",
        "border-collapse",
        "border-spacing",
        "border-radius",
        "width",
        "height",
        "min-width",
        "max-width",
        "min-height",
        "max-height",
        *(f"{box}{side}" for box in ("margin", "padding") for side in ("", "-top", "-right", "-bottom", "-left")),
        *(
            f"border{side}{aspect}"
            for side in ("", "-top", "-right", "-bottom", "-left")
            for aspect in ("", "-color", "-style", "-width")
        ),
    }
)
# A declaration with any of these is dropped before nh3 sees the style: url()/image-set() fetch, a
# backslash can spell them as CSS escapes, expression() is old IE script.
_CSS_DANGER = re.compile(r"url\s*\(|image-set|expression|\\|@", re.IGNORECASE)

_URL_SCHEMES = frozenset({"http", "https", "mailto", "cid", "data"})  # nh3's first pass; the filter is stricter
_LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_URL_STRIP = "".join(chr(code) for code in range(0x21))  # WHATWG: C0 controls and space at either end
_URL_REMOVE = str.maketrans("", "", "\t\n\r")  # WHATWG: removed anywhere in a URL
_DATA_IMAGE = re.compile(r"data:image/(?:png|gif|jpeg|jpg|webp)[;,]", re.IGNORECASE)
_IMAGE_URL_ATTRIBUTES = frozenset({("img", "src"), *((tag, "background") for tag in _ATTRIBUTES if tag != "*")})
_SRCSET_DESCRIPTOR = re.compile(r"\d+(?:\.\d+)?[wx]|\d*\.\d+x")


def _normalized_url(value: str) -> str:
    """What a browser would parse: controls and spaces stripped at the ends, tabs and line breaks removed."""
    return value.strip(_URL_STRIP).translate(_URL_REMOVE)


def _scheme(url: str) -> str | None:
    match = _SCHEME.match(url)
    return match.group(1).lower() if match is not None else None


def _is_protocol_relative(url: str) -> bool:
    # Browsers read backslashes as slashes in http(s) URLs, so "\\host/x" is "//host/x" too.
    return len(url) >= 2 and url[0] in "/\\" and url[1] in "/\\"


class _Filter:
    """nh3's attribute_filter for one call: decides URLs, rewrites cid:, counts blocked remote resources."""

    __slots__ = ("allow_remote", "blocked", "cid_url")

    def __init__(self, allow_remote: bool, cid_url: Callable[[str], str | None]) -> None:
        self.allow_remote = allow_remote
        self.cid_url = cid_url
        self.blocked = 0

    def __call__(self, tag: str, attribute: str, value: str) -> str | None:
        if attribute == "style":
            return _safe_style(value)
        if attribute == "href":
            return self.link(value) if tag == "a" else None
        if (tag, attribute) in _IMAGE_URL_ATTRIBUTES:
            return self.image(value)
        if attribute == "srcset":
            return self.srcset(value) if tag == "img" else None
        return value

    def link(self, value: str) -> str | None:
        url = _normalized_url(value)
        if _is_protocol_relative(url):
            return "https:" + url
        return url if _scheme(url) in _LINK_SCHEMES else None  # relative links would point into the webmail

    def image(self, value: str) -> str | None:
        url = _normalized_url(value)
        if _is_protocol_relative(url):
            url = "https:" + url
        scheme = _scheme(url)
        if scheme == "cid":
            return self.cid_url(unquote(url[4:]).strip().strip("<>"))  # RFC 2392: the Content-ID, URL-encoded
        if scheme == "data":
            return url if _DATA_IMAGE.match(url) else None
        if scheme in ("http", "https"):
            return self.remote(url)
        return None

    def remote(self, url: str) -> str | None:
        if self.allow_remote:
            return url
        self.blocked += 1
        return None

    def srcset(self, value: str) -> str | None:
        """Kept whole only when remote images are allowed and every candidate URL is http(s)."""
        remote = False
        for token in value.split():
            token = token.strip(",")
            if not token or _SRCSET_DESCRIPTOR.fullmatch(token):
                continue
            url = _normalized_url(token)
            if _is_protocol_relative(url) or _scheme(url) in ("http", "https"):
                remote = True
            else:
                return None
        if not remote:
            return None
        return self.remote(value)


def _safe_style(value: str) -> str | None:
    if _CSS_DANGER.search(value) is None:
        return value
    # A naive split on ';' may cut a quoted string in two; that only loses formatting, and what remains
    # has no dangerous piece, since every piece kept was checked.
    kept = [declaration for declaration in value.split(";") if _CSS_DANGER.search(declaration) is None]
    return ";".join(kept) or None


def sanitize_html(html: str, *, allow_remote: bool, cid_url: Callable[[str], str | None]) -> SanitizedHtml:
    """The message's HTML as a fragment safe to place in the webmail's page. cid_url maps a Content-ID (without
    brackets) to a same-origin URL of that part, or None to drop the image; its result is used as given."""
    attribute_filter = _Filter(allow_remote, cid_url)
    cleaned = nh3.clean(
        html,
        tags=set(_TAGS),
        clean_content_tags=set(_CLEAN_CONTENT_TAGS),
        attributes=_ATTRIBUTES,
        attribute_filter=attribute_filter,
        strip_comments=True,
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}, "img": {"referrerpolicy": "no-referrer"}},
        url_schemes=set(_URL_SCHEMES),
        filter_style_properties=set(_STYLE_PROPERTIES),
        # Relative URLs reach attribute_filter, which refuses them; "deny" would also strip the same-origin
        # URLs that cid_url returns, since nh3 applies it after the filter.
        url_relative="pass_through",
    )
    return SanitizedHtml(html=cleaned, blocked_remote=attribute_filter.blocked)


# --- Plain text ---------------------------------------------------------------------------------------

# http(s) URLs up to white space or characters that cannot be in one unescaped; trailing punctuation is
# trimmed after the match (a sentence's full stop, a closing parenthesis not opened inside the URL).
_TEXT_URL = re.compile(r"""https?://[^\s<>"'\x00-\x1f\x7f]+""", re.IGNORECASE)
_TRAILING = ".,;:!?'\")]}*"


def _linkify(line: str) -> str:
    pieces: list[str] = []
    position = 0
    for match in _TEXT_URL.finditer(line):
        url = match.group(0)
        while url and url[-1] in _TRAILING:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break  # a balanced parenthesis belongs to the URL (Wikipedia links)
            url = url[:-1]
        if len(url) <= len("https://"):
            continue
        end = match.start() + len(url)
        pieces.append(html.escape(line[position : match.start()]))
        escaped = html.escape(url)
        pieces.append(f'<a href="{escaped}" target="_blank" rel="noopener noreferrer">{escaped}</a>')
        position = end
    pieces.append(html.escape(line[position:]))
    return "".join(pieces)


def text_to_html(text: str) -> str:
    """Plain text as HTML for a white-space: pre-wrap block: escaped, http(s) URLs as links, and each run of
    quoted lines (starting with '>') in one <span class="quote">. Line breaks stay as they are."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    in_quote = False
    for index, line in enumerate(lines):
        quoted = line.startswith(">")
        if quoted and not in_quote:
            out.append('<span class="quote">')
        elif in_quote and not quoted:
            out.append("</span>")
        in_quote = quoted
        out.append(_linkify(line) if "://" in line else html.escape(line))
        if index < len(lines) - 1:
            out.append("\n")
    if in_quote:
        out.append("</span>")
    return "".join(out)
