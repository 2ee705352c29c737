"""The lead and contact lists page both ways, as the API's links do."""

from __future__ import annotations

import html
import re

from crmcore.db import transaction
from crmcore.services import records as svc


def links(page: str) -> dict[str, str]:
    """The pager's links by label: First, Previous, Next."""
    pager = page.split('<p class="pager">')[1].split("</p>")[0]
    return {re.search(r"First|Previous|Next", label)[0]: html.unescape(url)
            for url, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', pager)}


def names(page: str) -> list[str]:
    return re.findall(r'<td><a href="/leads/\d+">([^<]+)</a></td>', page)


def test_the_list_pages_back_and_to_the_first_page(app, client, sales, api_client):
    with transaction(app.extensions["crm"].sessions) as session:
        for i in range(120):
            svc.create(session, session.merge(sales), svc.LEADS, {"full_name": f"Lead {i:03}"})
    first = client.get("/leads?sort=full_name").get_data(as_text=True)
    assert names(first)[0] == "Lead 000" and len(names(first)) == 50
    assert set(links(first)) == {"Next"}  # no way back from the first page
    second = client.get(links(first)["Next"]).get_data(as_text=True)
    third = client.get(links(second)["Next"]).get_data(as_text=True)
    assert names(third) == [f"Lead {i:03}" for i in range(100, 120)]
    assert set(links(third)) == {"First", "Previous"}
    back = client.get(links(third)["Previous"]).get_data(as_text=True)
    assert names(back) == names(second)
    assert set(links(back)) == {"First", "Previous", "Next"}
    assert names(client.get(links(back)["Previous"]).get_data(as_text=True)) == names(first)
    assert names(client.get(links(back)["First"]).get_data(as_text=True)) == names(first)
    # The API's links lead back the same way.
    api = api_client(sales)
    body = api.get("/api/v1/leads?sort=full_name&limit=50").get_json()
    assert body["links"]["prev"] is None
    body = api.get(api.get(body["links"]["next"]).get_json()["links"]["next"]).get_json()
    before = api.get(body["links"]["prev"]).get_json()
    assert [lead["full_name"] for lead in before["items"]] == names(second)
