"""The likely-duplicates pages: /leads/duplicates and /contacts/duplicates, and
merging from there."""

from __future__ import annotations

import html
import re

import pytest

from crmcore.db import transaction
from crmcore.models import Lead
from crmcore.testing import DEFAULT_PASSWORD

XSS = "<script>window.__pwned=1</script>"


def test_the_list_links_to_the_duplicates(client, sales):
    for plural in ("leads", "contacts"):
        page = client.get(f"/{plural}").get_data(as_text=True)
        assert f'href="/{plural}/duplicates">Find duplicates</a>' in page


def test_a_set_is_merged_from_the_list_and_the_list_follows(client, sales, make_lead,
                                                           db_session):
    keep = make_lead(sales, full_name=f"Grace {XSS}", company="Navy", emails=["g@example.com"])
    other = make_lead(sales, full_name=f"grace {XSS}", company="NAVY", source="fair")
    make_lead(sales, full_name="Alone")

    page = client.get("/leads/duplicates").get_data(as_text=True)
    assert XSS not in page and html.escape(XSS, quote=False) in page
    assert "2 leads" in page and "g@example.com" in page and "Alone" not in page
    merge_url = f"/leads/{keep.id}/merge/{other.id}?back=name"
    assert f'href="{html.escape(merge_url)}">Merge into #{keep.id}…</a>' in page

    form = client.get(merge_url).get_data(as_text=True)
    assert '<input type="hidden" name="back" value="name">' in form
    assert 'href="/leads/duplicates?by=name">Cancel</a>' in form

    done = client.post(f"/leads/{keep.id}/merge/{other.id}",
                       data={"back": "name", "source": str(other.id)})
    assert done.status_code == 303
    assert done.location.endswith("/leads/duplicates?by=name")
    after = client.get(done.location).get_data(as_text=True)
    assert "were merged" in after and "No likely duplicates" in after
    db_session.rollback()
    assert db_session.get(Lead, keep.id).source == "fair"
    assert db_session.get(Lead, other.id).deleted_at is not None


def test_a_merge_started_elsewhere_returns_to_the_record(client, sales, make_lead):
    keep, other = make_lead(sales, full_name="Twin"), make_lead(sales, full_name="Twin")
    # Only the duplicate lists are places to go back to.
    done = client.post(f"/leads/{keep.id}/merge/{other.id}",
                       data={"back": "https://evil.example/"})
    assert done.status_code == 303 and done.location.endswith(f"/leads/{keep.id}")


def test_sets_by_phone_and_pages(client, sales, make_lead, make_contact):
    first = make_lead(sales, full_name="A", phones=["+1 202 555 0143"])
    make_lead(sales, full_name="B", phones=["+12025550143"])
    page = client.get("/leads/duplicates?by=phone").get_data(as_text=True)
    assert '<a href="/leads/duplicates?by=phone" aria-current="page">Same phone</a>' in page
    assert "+12025550143" in page and f"Merge into #{first.id}" in page
    assert "No likely duplicates" in client.get("/leads/duplicates").get_data(as_text=True)

    # Twenty sets a page.
    names = [f"Name {n:02}" for n in range(21)]
    for name in names * 2:
        make_contact(sales, last_name=name)
    pages, url = [], "/contacts/duplicates"
    while url:
        page = client.get(url).get_data(as_text=True)
        pages.append([name for name in names if f">{name}</a>" in page])
        link = re.search(r'<a href="([^"]+)" rel="next">', page)
        url = html.unescape(link.group(1)) if link else None
    assert pages == [names[:20], names[20:]]


def test_sets_by_email_show_the_address_they_share(client, sales, make_lead):
    work = make_lead(sales, full_name="Ann Ash", emails=["ann@acme.example"])
    home = make_lead(sales, full_name="Annie Ash",
                     emails=["ann@home.example", "ann@acme.example"])
    page = client.get("/leads/duplicates?by=email").get_data(as_text=True)
    assert '<a href="/leads/duplicates?by=email" aria-current="page">Same email</a>' in page
    assert "have an email address in common, whichever of their addresses it is" in page
    assert re.search(r"<h2>ann@acme\.example\s*<span", page), page
    # Every address of each, so that the shared one is there to see.
    assert "<td>ann@home.example, ann@acme.example</td>" in page
    assert f'href="/leads/{work.id}/merge/{home.id}?back=email"' in page


def test_bad_list_choices_are_a_clear_error(client, sales):
    response = client.get("/leads/duplicates?by=address")
    assert response.status_code == 422
    assert "Duplicates are listed by name, phone or email." in response.get_data(as_text=True)
    assert client.get("/leads/duplicates?cursor=!!").status_code == 422


def test_a_set_said_to_be_different_people_leaves_the_list(client, sales, make_lead):
    ids = [make_lead(sales, full_name="Jo Smith", company="Acme").id for _ in range(2)]
    page = client.get("/leads/duplicates").get_data(as_text=True)
    assert f'name="ids" value="{ids[0]},{ids[1]}"' in page
    assert '<button type="submit" class="button">Not duplicates</button>' in page

    done = client.post("/leads/duplicates/distinct",
                       data={"ids": f"{ids[0]},{ids[1]}", "back": "name", "cursor": ""})
    assert done.status_code == 303 and done.location.endswith("/leads/duplicates?by=name")
    after = client.get(done.location).get_data(as_text=True)
    assert "kept apart as different people" in after and "No likely duplicates" in after
    assert "Not a duplicate of" in client.get(f"/leads/{ids[0]}").get_data(as_text=True)

    refused = client.post("/leads/duplicates/distinct", data={"ids": str(ids[0])})
    assert refused.status_code == 303
    assert "Name at least two records" in client.get(refused.location).get_data(as_text=True)
    # Ids no record can have are no ids at all.
    for huge in ("9" * 5000, str(2**31)):
        refused = client.post("/leads/duplicates/distinct", data={"ids": f"{ids[0]},{huge}"})
        assert "Name at least two records" in client.get(refused.location).get_data(
            as_text=True)
    many = ",".join(str(i) for i in range(1, 502))
    refused = client.post("/leads/duplicates/distinct", data={"ids": many})
    assert "at most 500" in client.get(refused.location).get_data(as_text=True)


def test_a_record_page_keeps_a_look_alike_apart_and_takes_it_back(client, sales, make_lead):
    one, two = (make_lead(sales, full_name="Al Smith").id for _ in range(2))
    page = client.get(f"/leads/{one}").get_data(as_text=True)
    assert "Possible duplicates" in page and f'value="{one},{two}"' in page

    done = client.post("/leads/duplicates/distinct",
                       data={"ids": f"{one},{two}", "record": str(one)})
    assert done.status_code == 303 and done.location.endswith(f"/leads/{one}")
    page = client.get(done.location).get_data(as_text=True)
    assert "Possible duplicates" not in page and "Kept apart from" in page
    assert f'action="/leads/{one}/distinct/{two}/undo"' in page

    undone = client.post(f"/leads/{one}/distinct/{two}/undo")
    assert undone.status_code == 303 and undone.location.endswith(f"/leads/{one}")
    page = client.get(undone.location).get_data(as_text=True)
    assert "may be duplicates again" in page and "Possible duplicates" in page
    assert "Kept apart from" not in page
    assert client.post(f"/leads/{one}/distinct/{two}/undo").status_code == 404


def test_a_whole_set_merges_into_its_oldest_in_one_step(client, sales, make_lead, make_user,
                                                       db_session):
    keep = make_lead(sales, full_name="Tri Plet", emails=["one@example.com"], source="fair")
    others = [make_lead(sales, full_name="tri plet", emails=[f"{n}@example.com"], tags=[n],
                        source="web") for n in ("two", "three")]
    page = client.get("/leads/duplicates").get_data(as_text=True)
    assert f'<button type="submit" class="button">Merge all into #{keep.id}</button>' in page

    ids = ",".join(str(r.id) for r in (others[1], keep, others[0]))
    done = client.post("/leads/duplicates/merge", data={"ids": ids, "back": "name"})
    assert done.status_code == 303 and done.location.endswith("/leads/duplicates?by=name")
    after = client.get(done.location).get_data(as_text=True)
    assert f"merged into #{keep.id}" in after and "No likely duplicates" in after
    db_session.rollback()
    survivor = db_session.get(Lead, keep.id)
    assert survivor.source == "fair" and survivor.tags == ["three", "two"]
    assert survivor.emails == ["one@example.com", "two@example.com", "three@example.com"]
    assert all(db_session.get(Lead, r.id).deleted_at is not None for r in others)

    # Someone else's record in the list is a 404, and nothing is merged.
    theirs = make_lead(make_user("sales"), full_name="Tri Plet")
    twin = make_lead(sales, full_name="Tri Plet")
    refused = client.post("/leads/duplicates/merge", data={"ids": f"{twin.id},{theirs.id}"})
    assert refused.status_code == 404
    db_session.rollback()
    assert db_session.get(Lead, twin.id).deleted_at is None
    # A hundred at a time, the oldest first.
    many = [twin.id, *(make_lead(sales, full_name="Tri Plet").id for _ in range(101))]
    done = client.post("/leads/duplicates/merge", data={"ids": ",".join(map(str, many))})
    page = client.get(done.location).get_data(as_text=True)
    assert f"#{many[1]}, #{many[2]}" in page and "and 90 more merged into" in page
    assert "1 more remains: merge all again." in page
    db_session.rollback()
    assert db_session.get(Lead, many[100]).deleted_at is not None
    assert db_session.get(Lead, many[101]).deleted_at is None


def set_form(page: str, label: str) -> dict[str, str]:
    """The hidden fields of the set form whose button says ``label``."""
    before = page[:page.index(label)]
    form = before[before.rindex("<form"):]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def test_merge_these_merges_the_records_shown_as_shown(client, sales, make_lead, db_session):
    leads = [make_lead(sales, full_name=f"Person {n}", company=f"Co {n}",
                       phones=["+1 303 555 0999"]) for n in range(12)]
    page = client.get("/leads/duplicates?by=phone").get_data(as_text=True)
    assert "and 2 more, shown once these are merged or kept apart." in page
    label = f"Merge these into #{leads[0].id}"
    form = set_form(page, label)
    assert form["ids"] == ",".join(str(lead.id) for lead in leads[:10])

    # One of those shown changes before the button is pressed: nothing merges.
    with transaction(client.application.extensions["crm"].sessions) as s:
        s.get(Lead, leads[3].id).full_name = "Someone Else"
    refused = client.post("/leads/duplicates/merge", data=form)
    assert f"#{leads[3].id} changed since you looked" in client.get(
        refused.location).get_data(as_text=True)
    db_session.rollback()
    assert all(db_session.get(Lead, lead.id).deleted_at is None for lead in leads)

    page = client.get("/leads/duplicates?by=phone").get_data(as_text=True)
    assert client.post("/leads/duplicates/merge", data=set_form(page, label)
                       ).status_code == 303
    db_session.rollback()
    assert [db_session.get(Lead, lead.id).deleted_at is None for lead in leads] == [
        True, *[False] * 9, True, True]


def test_merging_a_set_of_one_says_what_is_missing(client, sales, make_lead):
    alone = make_lead(sales, full_name="Solo")
    for ids in ("", str(alone.id)):
        refused = client.post("/leads/duplicates/merge", data={"ids": ids})
        assert refused.status_code == 303
        assert "Pick at least one other record to merge." in client.get(
            refused.location).get_data(as_text=True)


class TestCsrf:
    @pytest.fixture
    def crm_config(self, crm_config):
        return {**crm_config, "WTF_CSRF_ENABLED": True}

    def test_the_set_buttons_need_the_pages_token(self, client, make_user, make_lead):
        user = make_user("sales")
        # Over HTTPS Flask-WTF also wants a same-origin Referer, as browsers send.
        same_origin = {"Referer": "https://localhost/leads/duplicates"}
        signed_in = client.post("/login", data={
            "email": user.email, "password": DEFAULT_PASSWORD,
            "csrf_token": token_of(client.get("/login"))}, headers=same_origin)
        assert signed_in.status_code == 303, signed_in.get_data(as_text=True)[:300]
        ids = ",".join(str(make_lead(user, full_name="Twin").id) for _ in range(2))
        page = client.get("/leads/duplicates")
        assert page.status_code == 200
        for action in ("distinct", "merge"):
            refused = client.post(f"/leads/duplicates/{action}", data={"ids": ids},
                                  headers=same_origin)
            assert refused.status_code == 400
        assert "Twin" in client.get("/leads/duplicates").get_data(as_text=True)
        done = client.post("/leads/duplicates/distinct",
                           data={"ids": ids, "csrf_token": token_of(page)}, headers=same_origin)
        assert done.status_code == 303
        assert "No likely duplicates" in client.get(done.location).get_data(as_text=True)


def token_of(response):
    return response.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
