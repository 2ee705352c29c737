"""Reading messages: one RFC 5322 message, an mbox file, a Maildir folder or a
folder of ``.eml`` files, with Python's own ``email`` and ``mailbox`` modules.

Nothing here touches the database. Every problem with the input becomes a
:class:`MailReadError` (or a refusal naming the message), never a traceback:
archives come from other programs and are often a little broken.
"""

from __future__ import annotations

import hashlib
import mailbox
import re
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from pathlib import Path
from typing import cast

from crmcore_plugins.mail.sanitize import clean_html

from crmcore.errors import ValidationFailed

MB = 1024 * 1024
DEFAULT_MAX_MESSAGE = 25 * MB
DEFAULT_MAX_ATTACHMENT = 10 * MB


class MailReadError(ValidationFailed):
    """A file or message that cannot be read as email; the message says which and why."""


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str  # sanitized, for display only
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ParsedMessage:
    """What the archive keeps of one message."""

    message_id: str
    subject: str
    from_address: str
    to_addresses: list[str]
    cc_addresses: list[str]
    date: datetime | None
    text_body: str
    html_body: str  # already sanitized
    raw_size: int
    attachments: list[ParsedAttachment] = field(default_factory=list)
    # Attachments left out, each with the reason.
    skipped: list[str] = field(default_factory=list)

    def addresses(self) -> list[tuple[str, str]]:
        """``(address, role)`` pairs, each once."""
        pairs = [("from", self.from_address)] if self.from_address else []
        pairs += [("to", a) for a in self.to_addresses] + [("cc", a) for a in self.cc_addresses]
        return list(dict.fromkeys((address, role) for role, address in pairs))


@dataclass(frozen=True)
class Found:
    """One message found in a path: its bytes, or why they could not be read."""

    label: str
    raw: bytes | None = None
    error: str | None = None


# -- one message ---------------------------------------------------------------------------


def normalize_message_id(value: str) -> str:
    """A Message-ID without whitespace and without its angle brackets."""
    compact = "".join(value.split())
    if compact.startswith("<") and compact.endswith(">"):
        compact = compact[1:-1]
    return compact


def _storable(text: str) -> str:
    """``text`` without NUL, which no text column stores (PostgreSQL refuses the
    whole insert): mail from other programs may carry one in any part. It
    becomes U+FFFD, as undecodable bytes do, so the reader sees where it was."""
    return text.replace("\x00", "\ufffd")


def derived_message_id(raw: bytes) -> str:
    """The id of a message that has none: the same bytes always give the same id."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def safe_filename(name: str | None, fallback: str = "attachment") -> str:
    """A file name fit for display and for a Content-Disposition header: no
    directories, no control characters, no leading dots, at most 200 characters.
    It never becomes a path on disk (storage is by content hash)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in unicodedata.normalize("NFC", base)
                   if unicodedata.category(ch)[0] != "C")
    base = base.strip().lstrip(".").strip()
    if len(base) > 200:
        stem, dot, suffix = base.rpartition(".")
        base = (stem[:190] + dot + suffix[:9]) if dot and len(suffix) < 10 else base[:200]
    return base or fallback


def _addresses(message: Message, header: str) -> list[str]:
    found: list[str] = []
    for value in message.get_all(header) or ():
        for address in getattr(value, "addresses", ()):
            spec = _eight_bit((address.addr_spec or "").strip().lower())
            if (spec and "@" in spec and spec not in found and len(spec) <= 320
                    and "\x00" not in spec):
                found.append(spec)
    return found


def _eight_bit(text: str) -> str | None:
    """Header text with the raw 8-bit bytes the email package kept as
    surrogates (no column stores those) read as UTF-8, as an address sent
    without encoding is; None when they are not UTF-8."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return None


def _date(message: Message) -> datetime | None:
    value = message.get("date")
    when = getattr(value, "datetime", None)
    if when is None:
        return None
    # A Date without a zone ("-0000" or none) is taken as UTC.
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC)
    except OverflowError:  # the last day of year 9999 west of Greenwich
        return None


def _text_of(part: Message) -> str:
    try:
        return str(part.get_content())  # type: ignore[attr-defined]
    except (LookupError, UnicodeError, AssertionError, ValueError):
        # An unknown or lying charset: keep what decodes rather than nothing.
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def _attachment_bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    # message/rfc822 and multipart attachments carry messages, not a payload.
    inner = part.get_payload()
    if isinstance(inner, list):
        return b"".join(p.as_bytes(policy=policy.default) for p in inner)
    return str(inner or "").encode()


def parse_raw(raw: bytes, *, max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT
              ) -> ParsedMessage:
    """Read one RFC 5322 message. Raises :class:`MailReadError` when ``raw`` is not
    an email (no headers at all, or headers or parts that cannot be parsed).
    Attachments over ``max_attachment_bytes`` are left out and listed in ``skipped``."""
    if not raw.strip():
        raise MailReadError("The message is empty.")
    message = cast(EmailMessage, message_from_bytes(raw, policy=policy.default))
    if not message.keys():
        raise MailReadError("Not an email message: it has no headers.")
    try:
        raw_id = str(message.get("message-id") or "")
        message_id = normalize_message_id(raw_id)
        if not message_id or len(message_id) > 998 or "\x00" in message_id:
            message_id = derived_message_id(raw)
        subject = _storable(" ".join(str(message.get("subject") or "").split()))
        senders = _addresses(message, "from")
        to, cc = _addresses(message, "to"), _addresses(message, "cc")
        date = _date(message)
    except (IndexError, ValueError, TypeError, AttributeError) as exc:
        # The email package's header parser fails on some malformed addresses.
        raise MailReadError(f"Unreadable headers ({type(exc).__name__}).") from None
    try:
        text_part = message.get_body(preferencelist=("plain",))
        html_part = message.get_body(preferencelist=("html",))
        text = _storable(_text_of(text_part)) if text_part is not None else ""
        html = _storable(clean_html(_text_of(html_part))) if html_part is not None else ""
        attachments, skipped = [], []
        for number, part in enumerate(message.iter_attachments(), 1):
            name = safe_filename(part.get_filename(), fallback=f"attachment-{number}")
            data = _attachment_bytes(part)
            if len(data) > max_attachment_bytes:
                skipped.append(f"attachment {name!r} is {_mb(len(data))}, over the limit of "
                               f"{_mb(max_attachment_bytes)}; left out")
                continue
            attachments.append(ParsedAttachment(name, _storable(part.get_content_type()[:255]),
                                                data))
    except (IndexError, ValueError, TypeError, AttributeError, KeyError, LookupError) as exc:
        # A MIME structure the email package cannot walk.
        raise MailReadError(f"Unreadable message parts ({type(exc).__name__}).") from None
    return ParsedMessage(
        message_id=message_id, subject=subject, from_address=senders[0] if senders else "",
        to_addresses=to, cc_addresses=cc, date=date, text_body=text, html_body=html,
        raw_size=len(raw), attachments=attachments, skipped=skipped)


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"


def too_big(size: int, limit: int) -> str | None:
    """The refusal for a message of ``size`` bytes, or None when it fits."""
    return f"the message is {_mb(size)}, over the limit of {_mb(limit)}" if size > limit else None


# -- many messages -------------------------------------------------------------------------


def _mbox_messages(path: Path, label: str, limit: int) -> Iterator[Found]:
    box = mailbox.mbox(path, create=False)
    try:
        for number, key in enumerate(box.iterkeys(), 1):
            raw = box.get_bytes(key)
            where = f"{label} message {number}"
            refusal = too_big(len(raw), limit)
            yield Found(where, error=refusal) if refusal else Found(where, raw)
    finally:
        box.close()


def _maildir_messages(path: Path, limit: int) -> Iterator[Found]:
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in sorted(box.iterkeys()):
        where = f"{path} message {key}"
        try:
            raw = box.get_bytes(key)
        except OSError as exc:
            yield Found(where, error=f"cannot read: {exc.strerror or exc}")
            continue
        refusal = too_big(len(raw), limit)
        yield Found(where, error=refusal) if refusal else Found(where, raw)


def _file_message(path: Path, limit: int) -> Found:
    refusal = too_big(path.stat().st_size, limit)
    return Found(str(path), error=refusal) if refusal else Found(str(path), path.read_bytes())


def is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def _starts_like_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def read_path(path: Path, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE) -> Iterator[Found]:
    """Every message in ``path``: an mbox file (it starts with ``From ``), a
    single message file, a Maildir (``cur``, ``new`` and ``tmp`` folders) or a
    folder of ``.eml`` files. Raises :class:`MailReadError` (saying why, the
    caller names the path) when ``path`` itself cannot be read; a message that
    cannot be read is yielded with its error."""
    try:
        if path.is_dir():
            if is_maildir(path):
                yield from _maildir_messages(path, max_message_bytes)
                return
            files = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() == ".eml")
            if not files:
                raise MailReadError("no Maildir and no .eml files in this folder")
            for file in files:
                yield _file_message(file, max_message_bytes)
        elif path.is_file():
            if _starts_like_mbox(path):
                yield from _mbox_messages(path, str(path), max_message_bytes)
            else:
                yield _file_message(path, max_message_bytes)
        else:
            raise MailReadError("no such file or folder")
    except OSError as exc:
        raise MailReadError(f"cannot read ({exc.strerror or exc})") from None
    except mailbox.Error as exc:
        raise MailReadError(f"not a readable mailbox ({exc})") from None


def parse_upload(filename: str, data: bytes) -> list[bytes]:
    """The raw messages in an uploaded ``.eml`` or ``.mbox`` file, for
    :func:`crmcore_plugins.mail.services.store_messages`. Raises
    :class:`MailReadError` naming the file when it holds no message."""
    name = safe_filename(filename, fallback="upload")
    suffix = Path(name).suffix.lower()
    mbox = suffix == ".mbox" or data.startswith(b"From ")
    if not mbox and suffix != ".eml":
        raise MailReadError(f"{name}: upload an .eml or .mbox file.",
                            {"file": ["Only .eml and .mbox files hold email."]})
    if not data.strip():
        raise MailReadError(f"{name}: the file is empty.", {"file": ["The file is empty."]})
    if not mbox:
        return [data]
    # The mailbox module reads files only: spill the upload to a private temporary file.
    with tempfile.TemporaryDirectory(prefix="crm-mail-") as folder:
        spill = Path(folder) / "upload.mbox"
        spill.write_bytes(data)
        try:
            raws = [found.raw for found in _mbox_messages(spill, name, len(data))
                    if found.raw is not None]
        except mailbox.Error as exc:
            raise MailReadError(f"{name}: not a readable mbox file ({exc}).",
                                {"file": ["Not a readable mbox file."]}) from None
    if not raws:
        raise MailReadError(f"{name}: no messages in this mbox file.",
                            {"file": ["No messages found."]})
    return raws
