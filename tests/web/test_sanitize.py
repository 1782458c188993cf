"""The HTML sanitizer and the plain-text renderer: hostile markup comes out inert, mail formatting survives.

Outputs are checked by parsing them back with html.parser (which decodes entities in attribute values as
a browser does), not by substring matching alone.
"""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.web.sanitize import SanitizedHtml, sanitize_html, text_to_html
from tests.web.htmltags import Tags

URL_ATTRIBUTES = {"href", "src", "srcset", "background", "action", "formaction", "xlink:href", "poster", "data",
                  "cite", "longdesc", "lowsrc", "dynsrc", "ping"}
FORBIDDEN_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "form", "input", "button", "textarea",
                  "select", "meta", "link", "base", "style", "svg", "math", "applet", "template", "noscript"}
SAFE_DATA_IMAGE = re.compile(r"data:image/(png|gif|jpeg|jpg|webp)[;,]")


def browser_url(value: str) -> str:
    """A URL as a browser reads its scheme: controls and spaces off the ends, tabs and newlines removed."""
    return re.sub(r"[\t\n\r]", "", value.strip("".join(chr(c) for c in range(0x21)))).lower()


def assert_inert(markup: str) -> None:
    assert "<script" not in markup.lower()
    for tag, attributes in Tags(markup).tags:
        assert tag not in FORBIDDEN_TAGS, markup
        for name, value in attributes.items():
            assert not name.startswith("on"), markup
            if name in URL_ATTRIBUTES:
                url = browser_url(value)
                assert not url.startswith(("javascript:", "vbscript:")), markup
                assert not url.startswith("data:") or (tag == "img" and SAFE_DATA_IMAGE.match(url)), markup
                assert not url.startswith("/") or tag == "img", markup  # only cid_url's same-origin URLs


def clean(markup: str, *, allow_remote: bool = False) -> SanitizedHtml:
    return sanitize_html(markup, allow_remote=allow_remote, cid_url=lambda cid: f"/part/{cid}")


HOSTILE = """<html><head><title>T</title><meta http-equiv="refresh" content="0;url=https://evil.example/">
<link rel="stylesheet" href="https://evil.example/s.css"><base href="https://evil.example/">
<style>body { background: url(https://evil.example/bg.png) }</style></head>
<body onload="alert(1)">
<script>alert("script")</script>
<img src=x onerror=alert(1)>
<a href="javascript:alert(1)">js</a><a href="JaVaScRiPt&colon;alert(1)">js2</a>
<a href=" &#x6A;avascript:alert(1)">js3</a>
<a href="vbscript:msgbox(1)">vb</a><a href="data:text/html,<script>alert(1)</script>">data</a>
<svg onload="alert(1)"><circle r="1"/></svg><math><mi xlink:href="javascript:alert(1)">m</mi></math>
<iframe src="https://evil.example/"></iframe><object data="x.swf"></object><embed src="x.swf">
<form action="https://evil.example/"><input name="password"><button formaction="javascript:alert(1)">go</button></form>
<img src="https://evil.example/p.gif" alt="pixel">
<p style="color: red; position: fixed; top: 0; background-image: url(https://evil.example/b.png)">styled</p>
</body></html>"""


def test_hostile_markup_comes_out_inert() -> None:
    result = clean(HOSTILE)
    assert_inert(result.html)
    for word in ("alert", "evil.example", "<iframe", "<form", "<svg", "<style", "<meta", "<link", "<base", "password"):
        assert word not in result.html.lower(), word
    assert "styled" in result.html and "js" in result.html  # the text stays
    assert Tags(result.html).of("p") == [{"style": "color:red"}]
    assert {"alt": "pixel", "referrerpolicy": "no-referrer"} in Tags(result.html).of("img")
    assert result.blocked_remote == 1
    assert "T" not in re.sub(r"<[^>]*>", "", result.html)  # the <title> is not body text


def test_remote_images_blocked_and_counted_unless_allowed() -> None:
    markup = ('<img src="https://a.example/1.png" alt="one"><img src="http://a.example/2.png">'
              '<img src="//a.example/3.png"><img srcset="https://a.example/4.png 1x, https://a.example/5.png 2x">'
              '<table background="https://a.example/bg.png"><tr><td background="http://a.example/td.png">x</td>'
              "</tr></table>")
    blocked = clean(markup)
    assert blocked.blocked_remote == 6
    tags = Tags(blocked.html)
    assert all("src" not in img and "srcset" not in img for img in tags.of("img"))
    assert tags.of("img")[0]["alt"] == "one"
    assert all("background" not in attributes for attributes in tags.of("table") + tags.of("td"))

    allowed = clean(markup, allow_remote=True)
    assert allowed.blocked_remote == 0
    tags = Tags(allowed.html)
    assert [img.get("src") for img in tags.of("img")] == [
        "https://a.example/1.png", "http://a.example/2.png", "https://a.example/3.png", None]
    assert tags.of("img")[3]["srcset"] == "https://a.example/4.png 1x, https://a.example/5.png 2x"
    assert tags.of("table")[0]["background"] == "https://a.example/bg.png"
    assert tags.of("td")[0]["background"] == "http://a.example/td.png"


def test_srcset_with_a_non_http_candidate_is_dropped() -> None:
    result = clean('<img srcset="https://a.example/1.png 1x, javascript:alert(1) 2x">', allow_remote=True)
    assert "srcset" not in Tags(result.html).of("img")[0]


def test_cid_images_use_the_callers_url_or_go() -> None:
    seen: list[str] = []

    def cid_url(content_id: str) -> str | None:
        seen.append(content_id)
        return "/message/7/part/2" if content_id == "logo@x" else None

    markup = '<img src="cid:logo@x"><img src="CID:%3Clogo@x%3E"><img src="cid:missing@x" alt="gone">'
    result = sanitize_html(markup, allow_remote=False, cid_url=cid_url)
    assert [img.get("src") for img in Tags(result.html).of("img")] == ["/message/7/part/2", "/message/7/part/2", None]
    assert seen == ["logo@x", "logo@x", "missing@x"]
    assert result.blocked_remote == 0


def test_data_urls_only_for_raster_images() -> None:
    markup = ('<img src="data:image/png;base64,iVBORw0KGgo="><img src="data:image/webp;base64,UklGRg==">'
              '<img src="data:image/svg+xml,<svg onload=alert(1)>"><img src="data:text/html,hi">'
              '<a href="data:image/png;base64,iVBORw0KGgo=">link</a>')
    result = clean(markup)
    assert [img.get("src") for img in Tags(result.html).of("img")] == [
        "data:image/png;base64,iVBORw0KGgo=", "data:image/webp;base64,UklGRg==", None, None]
    assert "href" not in Tags(result.html).of("a")[0]


def test_links_open_in_a_new_tab_without_referrer() -> None:
    markup = ('<a href="https://ok.example/x?a=1&amp;b=2" target="_self" rel="opener">ok</a>'
              '<a href="mailto:someone@example.com">mail</a><a href="/logout">relative</a><a href="#top">frag</a>'
              '<a href="//other.example/">proto</a>')
    links = Tags(clean(markup).html).of("a")
    assert links[0] == {"href": "https://ok.example/x?a=1&b=2", "target": "_blank", "rel": "noopener noreferrer"}
    assert links[1]["href"] == "mailto:someone@example.com"
    assert "href" not in links[2] and "href" not in links[3]  # they would point into the webmail itself
    assert links[4]["href"] == "https://other.example/"
    assert all(link["target"] == "_blank" and link["rel"] == "noopener noreferrer" for link in links)


def test_relative_images_are_dropped() -> None:
    result = clean('<img src="/api/logout"><img src="x.png">')
    assert all("src" not in img for img in Tags(result.html).of("img"))
    assert result.blocked_remote == 0


def test_tables_and_formatting_survive() -> None:
    markup = ('<table width="600" cellpadding="4" border="0" bgcolor="#eeeeee"><thead><tr><th colspan="2">H</th>'
              '</tr></thead><tbody><tr><td align="right" valign="top" style="padding: 4px; font-weight: bold">a</td>'
              '<td>b</td></tr></tbody></table><p><b>bold</b> <i>it</i> <u>u</u> <font color="red" face="Arial">f</font>'
              "</p><ul><li>one</li></ul><blockquote>q</blockquote><pre>pre</pre><h1>h</h1><hr><br>")
    result = clean(markup)
    tags = Tags(result.html)
    assert tags.of("table") == [{"width": "600", "cellpadding": "4", "border": "0", "bgcolor": "#eeeeee"}]
    assert tags.of("th") == [{"colspan": "2"}]
    assert tags.of("td")[0] == {"align": "right", "valign": "top", "style": "padding:4px;font-weight:bold"}
    assert tags.of("font") == [{"color": "red", "face": "Arial"}]
    for tag in ("thead", "tbody", "b", "i", "u", "ul", "li", "blockquote", "pre", "h1", "hr", "br"):
        assert tags.of(tag), tag


def test_style_keeps_only_safe_properties() -> None:
    markup = ('<div style="color: #123456; background-color: white; font-family: Arial; margin: 0 auto; '
              "border: 1px solid red; width: 100%; position: absolute; z-index: 9; "
              'background: url(https://evil.example/x.png); list-style-image: url(x); cursor: url(x), auto">d</div>'
              '<span style="color: u\\72l(https://evil.example/)">escaped</span>'
              '<span style="width: expression(alert(1))">ie</span>')
    result = clean(markup)
    tags = Tags(result.html)
    style = tags.of("div")[0]["style"]
    for kept in ("color:#123456", "background-color:white", "font-family:Arial", "margin:0 auto", "width:100%"):
        assert kept in style
    assert "border:1px solid red" in style
    for gone in ("position", "z-index", "url", "cursor", "list-style"):
        assert gone not in style
    assert all("style" not in span for span in tags.of("span"))
    assert result.blocked_remote == 0


def test_comments_and_conditional_comments_go() -> None:
    result = clean("<!--[if mso]><script>alert(1)</script><![endif]--><p>x</p><!-- <img src=x onerror=alert(1)> -->")
    assert result.html == "<p>x</p>"


@pytest.mark.parametrize(
    "markup",
    [
        "<scr<script>ipt>alert(1)</script>",
        "<img src=`x` onerror=alert(1)>",
        '<a href="jav&#x09;ascript:alert(1)">x</a>',
        '<a href="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116:alert(1)">'
        "x</a>",
        "<IMG SRC=JaVaScRiPt:alert('XSS')>",
        '<a href="\x01javascript:alert(1)">x</a>',
        '<div style="x:expression(alert(1))">x</div>',
        "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
        "<svg><style><img src=x onerror=alert(1)></style></svg>",
        '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>',
        "<template><script>alert(1)</script></template>",
        '<a href="https://ok.example/" onclick="alert(1)" onmouseover=alert(1)>x</a>',
        '<body background="javascript:alert(1)">',
        '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
        "<textarea></textarea><script>alert(1)</script>",
        "<!--><script>alert(1)</script>-->",
        '<a href="vbscript:msgbox(1)">x</a><img src="vbscript:msgbox(1)">',
        '<img src="javascript:alert(1)" srcset="javascript:alert(1) 1x">',
    ],
)
def test_known_xss_vectors(markup: str) -> None:
    for allow_remote in (False, True):
        result = clean(markup, allow_remote=allow_remote)
        assert_inert(result.html)
        assert "alert" not in "".join(str(attributes) for _, attributes in Tags(result.html).tags)


# Fragments that combine into hostile-looking markup: tags, attribute pieces, schemes in many spellings.
FRAGMENTS = [
    "<", ">", "</", "/>", '"', "'", "=", " ", "\t", "\n", "\x00", "&", "&#", ";", "x", "<!--", "-->",
    "<![CDATA[", "]]>",
    "<script>", "</script>", "<script", "<img", "<a", "<svg", "<math", "<iframe", "<style>", "</style>", "<form",
    "<table", "<td", "<div", "<p", "<noscript>", "<template>", "<textarea>", "<title>", "<xmp>", "<plaintext>",
    " src=", " href=", " srcset=", " background=", " style=", " onerror=", " onload=", " ONclick=", " on", "error",
    "javascript:", "JaVaScRiPt:", "java\tscript:", "&#106;avascript:", "&#x6A;avascript:", "jav&#x09;ascript:",
    "vbscript:", "data:text/html,", "data:image/png;base64,", "data:image/svg+xml,", "cid:", "https://e.example/",
    "//e.example/", "\\\\e.example\\", "alert(1)", "url(", "expression(", "\\", "color:red", ";",
]
html_ish = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=40).map("".join)


@settings(max_examples=200, deadline=None)
@given(markup=st.one_of(html_ish, st.text(max_size=200)), allow_remote=st.booleans())
def test_property_output_is_inert(markup: str, allow_remote: bool) -> None:
    result = clean(markup, allow_remote=allow_remote)
    assert_inert(result.html)
    assert result.blocked_remote >= 0


@settings(max_examples=200, deadline=None)
@given(markup=html_ish)
def test_property_sanitizing_is_stable(markup: str) -> None:
    """Sanitizing sanitized output changes nothing that matters: it stays inert (no mutation-XSS round trip)."""
    once = clean(markup, allow_remote=True).html
    assert_inert(clean(once, allow_remote=True).html)


# --- text_to_html ------------------------------------------------------------------------------------------


def test_text_is_escaped_and_line_breaks_kept() -> None:
    text = 'a < b & c > "d"\r\nsecond line\n\n<script>alert(1)</script>'
    assert text_to_html(text) == (
        "a &lt; b &amp; c &gt; &quot;d&quot;\nsecond line\n\n&lt;script&gt;alert(1)&lt;/script&gt;")


def test_urls_become_safe_links() -> None:
    result = text_to_html("See https://example.com/a?b=1&c=2. Or (http://example.org/x) and "
                          "https://en.wikipedia.org/wiki/Foo_(bar), javascript:alert(1) ftp://x.example/")
    links = Tags(result).of("a")
    assert [link["href"] for link in links] == [
        "https://example.com/a?b=1&c=2", "http://example.org/x", "https://en.wikipedia.org/wiki/Foo_(bar)"]
    assert all(link["target"] == "_blank" and link["rel"] == "noopener noreferrer" for link in links)
    assert result.endswith(", javascript:alert(1) ftp://x.example/")
    assert "https://example.com/a?b=1&amp;c=2</a>. Or (" in result


def test_url_cannot_break_out_of_the_attribute() -> None:
    result = text_to_html('https://x.example/"onmouseover="alert(1) https://y.example/<img>')
    links = Tags(result).of("a")
    assert [link["href"] for link in links] == ["https://x.example/", "https://y.example/"]
    assert_inert(result)


def test_quoted_runs_are_wrapped() -> None:
    text = "Hi\n> one\n>> two\nme\n>three"
    assert text_to_html(text) == (
        'Hi\n<span class="quote">&gt; one\n&gt;&gt; two\n</span>me\n<span class="quote">&gt;three</span>')


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(html_ish, st.text(max_size=300)))
def test_property_text_to_html_only_makes_links_and_quotes(text: str) -> None:
    result = text_to_html(text)
    for tag, attributes in Tags(result).tags:
        assert tag in ("a", "span")
        if tag == "a":
            assert set(attributes) == {"href", "target", "rel"}
            assert re.match(r"https?://", attributes["href"], re.IGNORECASE)
        else:
            assert attributes == {"class": "quote"}
    unescaped = re.sub(r"<[^>]*>", "", result)
    assert html.unescape(unescaped) == text.replace("\r\n", "\n").replace("\r", "\n")
