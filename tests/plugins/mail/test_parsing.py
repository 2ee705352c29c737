"""Reading messages and sanitizing their HTML, without a database."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from crmcore_plugins.mail.parsing import (
    MailReadError,
    derived_message_id,
    normalize_message_id,
    parse_raw,
    safe_filename,
)
from crmcore_plugins.mail.sanitize import clean_html

from crmcore.db import Base
from tests.plugins.mail.builders import build_message

# Payloads that must never survive: each either runs script, fetches something
# or points into the CRM.
NASTY = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    '<img src="https://tracker.example/p.gif">',
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    '<a href="javascript:alert(1)">x</a>',
    '<a href=" JaVaScRiPt:alert(1)">x</a>',
    '<a href="java&#x09;script:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<a href="/admin/users">relative</a>',
    '<body onload="alert(1)">',
    '<svg><script>alert(1)</script></svg>',
    '<svg onload="alert(1)"></svg>',
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
    '<iframe src="https://evil.example/"></iframe>',
    '<object data="evil.swf"></object><embed src="evil.swf">',
    '<form action="https://evil.example/"><input name="password"></form>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '<base href="https://evil.example/">',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<p style="position:fixed;top:0">overlay</p>',
    '<table background="https://tracker.example/t.gif"><tr><td>x</td></tr></table>',
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<a href="https://ok.example/" onmouseover="alert(1)">hover</a>',
    '<details open ontoggle="alert(1)">x</details>',
    '<video><source onerror="alert(1)"></video>',
    '<p id="csrf_token" class="flash">clobber</p>',
]
FORBIDDEN = re.compile(
    r"<\s*(script|iframe|object|embed|form|input|meta|link|base|style|svg|math|video|source)"
    r"|\son\w+\s*=|javascript:|vbscript:|data:text|svg\+xml|https://(evil|tracker)|"
    r'\s(style|id|class|background)\s*=|href="/', re.IGNORECASE)


@pytest.mark.parametrize("html", NASTY)
def test_nasty_html_is_defused(html):
    cleaned = clean_html(f"<div>before {html} after</div>")
    assert not FORBIDDEN.search(cleaned), cleaned
    assert cleaned.startswith("<div>before")


def test_harmless_markup_survives():
    html = ('<p>Hi <b>Ada</b>, <a href="https://ok.example/a?b=1">link</a> '
            '<a href="mailto:x@example.com">mail</a><img alt="dot" '
            'src="data:image/png;base64,iVBORw0KGgo="></p><ul><li>one</li></ul>')
    cleaned = clean_html(html)
    assert ('<a href="https://ok.example/a?b=1" rel="noopener noreferrer nofollow">link</a>'
            in cleaned)
    assert 'href="mailto:x@example.com"' in cleaned
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in cleaned
    assert "<ul><li>one</li></ul>" in cleaned


def test_a_full_document_keeps_only_its_body_text():
    cleaned = clean_html("<html><head><title>Secret title</title><style>p{}</style></head>"
                         "<body><p>Body</p></body></html>")
    assert cleaned == "<p>Body</p>"


def test_parse_raw_reads_headers_bodies_and_attachments():
    raw = build_message(subject="Quote \t request", sender='"Ada L." <ADA@Example.COM>',
                        to=["a@x.test", "B@x.test"], cc=["c@x.test"],
                        message_id="  <abc@example.com>\n", html="<p onclick=x>Hi</p>",
                        attachments=[("..\\..\\win.ini", "text/plain", b"x")])

    parsed = parse_raw(raw)

    assert parsed.message_id == "abc@example.com"
    assert parsed.subject == "Quote request"
    assert parsed.from_address == "ada@example.com"
    assert (parsed.to_addresses, parsed.cc_addresses) == (["a@x.test", "b@x.test"], ["c@x.test"])
    assert parsed.text_body.strip() == "Plain text."
    assert parsed.html_body == "<p>Hi</p>"
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
        ("win.ini", "text/plain", b"x")]
    assert parsed.raw_size == len(raw)


def test_a_date_without_zone_is_utc_and_a_bad_one_is_none():
    message = EmailMessage()
    message["From"] = "a@x.test"
    message["Date"] = "Wed, 04 Mar 2026 12:30:00 -0000"
    message.set_content("x")
    assert parse_raw(message.as_bytes()).date.isoformat() == "2026-03-04T12:30:00+00:00"
    raw = message.as_bytes().replace(b"Wed, 04 Mar 2026 12:30:00 -0000", b"yesterday")
    assert parse_raw(raw).date is None


def test_message_ids_are_normalized_or_derived_deterministically():
    assert normalize_message_id(" <a@b>\r\n") == "a@b"
    raw = build_message(message_id=None)
    assert parse_raw(raw).message_id == derived_message_id(raw) == parse_raw(raw).message_id
    assert parse_raw(raw).message_id != parse_raw(build_message(message_id=None,
                                                                subject="x")).message_id


def test_undecodable_charset_keeps_what_decodes():
    raw = (b"From: a@x.test\nContent-Type: text/plain; charset=no-such-charset\n\n"
           b"caf\xc3\xa9 \xff")
    assert parse_raw(raw).text_body.startswith("café")


@pytest.mark.parametrize("raw, reason", [
    (b"", "The message is empty."),
    (b"\x00\x01 binary", "Not an email message: it has no headers."),
    (b'To: <<<>>>@@, "\n\nx', "Unreadable headers (IndexError)."),
])
def test_malformed_messages_raise_a_clear_error(raw, reason):
    with pytest.raises(MailReadError) as caught:
        parse_raw(raw)
    assert caught.value.detail == reason


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\boot.ini", "boot.ini"),
    ("/abs/path/x.pdf", "x.pdf"),
    (".htaccess", "htaccess"),
    ("a\x00b\r\nc.txt", "abc.txt"),
    ("..", "attachment"),
    (None, "attachment"),
    ("x" * 300 + ".pdf", "x" * 190 + ".pdf"),
])
def test_filenames_are_sanitized_for_display(name, expected):
    assert safe_filename(name) == expected


def _ours(obj, name, type_, reflected, compare_to):
    return type_ != "table" or name.startswith("mail_")


@pytest.mark.plugins("mail")
def test_migration_matches_the_models(app):
    with app.extensions["crm"].engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _ours})
        assert compare_metadata(context, Base.metadata) == []


def test_a_date_beyond_what_utc_holds_is_no_date():
    raw = b"From: a@x.test\r\nDate: Fri, 31 Dec 9999 23:00:00 -1400\r\n\r\nhi"
    assert parse_raw(raw).date is None


def test_raw_eight_bit_addresses_are_read_as_utf8_or_left_out():
    raw = ("From: j\u00e9r\u00f4me@b\u00e9.test\r\nTo: ann@x.test\r\n\r\nhi").encode()
    assert parse_raw(raw).from_address == "j\u00e9r\u00f4me@b\u00e9.test"
    latin = b"From: j\xe9r\xf4me@b\xe9.test\r\nTo: ann@x.test, l\xe9a@x.test\r\n\r\nhi"
    parsed = parse_raw(latin)
    assert parsed.from_address == "" and parsed.to_addresses == ["ann@x.test"]
