"""NUL (U+0000), which no column stores, in a form or a query: a page naming the
field, on the core's pages and plugins' alike; nothing is stored."""

from __future__ import annotations

from sqlalchemy import func, select

from crmcore.models import Lead

REFUSED = "contains the NUL character (U+0000), which cannot be stored."


def test_forms_and_queries_holding_nul_are_refused(app, client, make_user, login):
    user = make_user("sales")
    # The sign-in form looked the address up before anything checked it.
    page = client.post("/login", data={"email": f"{user.email}\x00", "password": "x"})
    assert page.status_code == 422 and f"Text in email {REFUSED}" in page.get_data(as_text=True)
    login(client, user)
    page = client.post("/leads/new", data={"full_name": "Grace\x00", "emails": "g@x.org"})
    assert page.status_code == 422
    assert f"Text in full_name {REFUSED}" in page.get_data(as_text=True)
    for url in ("/leads?q=gr%00", "/leads/export.csv?company=%00",
                "/mail/?q=%00"):  # a plugin's page, with no handler of its own
        page = client.get(url)
        assert page.status_code == 422, url
        assert REFUSED in page.get_data(as_text=True)
    with app.extensions["crm"].sessions() as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 0
