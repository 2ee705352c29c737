"""Email HTML made safe to show inside the CRM's own pages.

HTML from outside is sanitized once, on import, so that what is stored is what
is shown. The allowlist is nh3's, narrowed: no scripts or styles (their content
goes too), no event handlers, no ``id``/``class``/``style`` attributes, links only
to http(s) and mailto, and images only when embedded as ``data:`` raster images.
A remote image would tell the sender when and where the message was read (and
the CRM's CSP would block it anyway); a relative URL would point into the CRM.
"""

from __future__ import annotations

import nh3

# Containers that must vanish with their content: a full HTML document's head
# and title would otherwise leak their text into the body.
DROPPED_WITH_CONTENT = frozenset({"script", "style", "head", "title", "template", "noscript"})
TAGS = frozenset(nh3.ALLOWED_TAGS) - {"map", "area"}
LINK_SCHEMES = ("http:", "https:", "mailto:")
IMAGE_TYPES = ("data:image/png;", "data:image/gif;", "data:image/jpeg;", "data:image/webp;")


def _attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "href":
        return value if value.strip().lower().startswith(LINK_SCHEMES) else None
    if tag == "img" and attribute == "src":
        # SVG is left out on purpose: it is a document that can carry script.
        return value if value.strip().lower().startswith(IMAGE_TYPES) else None
    if attribute == "cite":
        return None  # a URL nobody needs to follow from an archived email
    return value


def clean_html(html: str) -> str:
    """``html`` reduced to markup that cannot run script or fetch anything."""
    if not html.strip():
        return ""
    return nh3.clean(
        html,
        tags=set(TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        url_schemes={"http", "https", "mailto", "data"},
        attribute_filter=_attribute,
        url_relative="deny",
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ).strip()
