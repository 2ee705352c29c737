"""Forms posted for a record merged away or deleted while it was open (in
another tab, or by a colleague), and saves of a record changed meanwhile."""

from __future__ import annotations

from typing import Any

from crmcore.db import transaction
from crmcore.services import merge as merge_svc
from crmcore.services import records as svc


def merge_into(app: Any, user: Any, survivor_id: int, other_id: int) -> None:
    with transaction(app.extensions["crm"].sessions) as session:
        merge_svc.merge(session, session.merge(user) if user else None, svc.LEADS,
                        survivor_id, [other_id])


def test_saving_a_lead_merged_away_meanwhile_names_the_survivor_and_keeps_the_input(
        app, client, sales, make_lead):
    keep = make_lead(sales, full_name="Ann Keep", emails=["ann@x.example"])
    gone = make_lead(sales, full_name="Ann Gone", company="Old Co")
    merge_into(app, sales, keep.id, gone.id)  # in another tab
    response = client.post(f"/leads/{gone.id}/edit", data={
        "version": "1", "full_name": "Ann Gone", "company": "New <Co>", "tags": "vip, hot"})
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert (f"Lead #{gone.id} was merged into #{keep.id} meanwhile; it is in the recycle "
            "bin. Nothing was saved.") in page
    assert f'href="/leads/{keep.id}/edit">Edit #{keep.id}</a>' in page
    assert "<th scope=\"row\">Company</th><td>New &lt;Co&gt;</td>" in page
    assert "<td>vip, hot</td>" in page
    assert "<th scope=\"row\">Full name</th>" not in page  # unchanged: not listed


def test_a_comment_on_a_lead_merged_away_meanwhile_can_go_to_the_survivor(
        app, client, sales, make_lead):
    keep = make_lead(sales, full_name="Ann Keep")
    gone = make_lead(sales, full_name="Ann Gone")
    merge_into(app, sales, keep.id, gone.id)
    response = client.post(f"/leads/{gone.id}/comment", data={"body": "Wants <b>a</b> call"})
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert f"Lead #{gone.id} was merged into #{keep.id} meanwhile" in page
    assert "The comment was not added." in page
    assert f'action="/leads/{keep.id}/comment"' in page
    assert ">Wants &lt;b&gt;a&lt;/b&gt; call</textarea>" in page
    assert client.post(f"/leads/{keep.id}/comment",
                       data={"body": "Wants <b>a</b> call"}).status_code == 303


def test_a_lead_deleted_meanwhile_says_so_and_keeps_the_comment(client, sales, make_lead):
    lead = make_lead(sales)
    assert client.post(f"/leads/{lead.id}/delete").status_code == 303
    response = client.post(f"/leads/{lead.id}/comment", data={"body": "Call back Friday"})
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert f"Lead #{lead.id} was deleted meanwhile: it is in the recycle bin." in page
    assert 'href="/recycle-bin">Open the recycle bin</a>' in page
    assert "readonly>Call back Friday</textarea>" in page


def test_a_survivor_the_user_may_not_see_is_not_named(app, client, sales, make_user,
                                                      make_lead):
    other = make_user("sales")
    keep = make_lead(other, full_name="Theirs")
    gone = make_lead(sales, full_name="Mine")
    merge_into(app, None, keep.id, gone.id)  # merged by the system into another's lead
    response = client.post(f"/leads/{gone.id}/comment", data={"body": "Note"})
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert f"Lead #{gone.id} was merged into another lead meanwhile" in page
    assert f"#{keep.id}" not in page


def test_another_users_binned_lead_stays_not_found(client, sales, make_user, make_lead):
    other = make_user("sales")
    lead = make_lead(other)
    with transaction(client.application.extensions["crm"].sessions) as session:
        svc.soft_delete(session, session.merge(other), svc.LEADS, [lead.id])
    for url, data in ((f"/leads/{lead.id}/comment", {"body": "x"}),
                      (f"/leads/{lead.id}/edit", {"full_name": "x", "version": "2"})):
        response = client.post(url, data=data)
        assert response.status_code == 404
        assert "recycle bin" not in response.get_data(as_text=True)


def test_a_stale_save_does_not_blame_someone_else(client, sales, make_lead):
    lead = make_lead(sales)
    client.post(f"/leads/{lead.id}/edit", data={"version": "1", "full_name": "Tab one"})
    response = client.post(f"/leads/{lead.id}/edit", data={"version": "1",
                                                           "full_name": "Tab two"})
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "This lead was changed since you opened it (in another tab, or by someone " \
        "else); nothing was saved." in page
    assert "Someone else changed" not in page and 'value="Tab two"' in page
