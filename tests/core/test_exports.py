"""CSV export: every visible, filtered record, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmcore.db import transaction
from crmcore.services import custom_fields as cf
from crmcore.services import records as svc
from crmcore.services.exports import FORMULA_STARTS, export_csv, neutralize

pytestmark = pytest.mark.plugins()


@given(st.text())
def test_no_cell_starts_like_a_formula(value):
    safe = neutralize(value)
    assert not safe.startswith(FORMULA_STARTS)
    assert safe in (value, "'" + value)


def rows(chunks):
    return list(csv.reader(io.StringIO("".join(chunks))))


def test_export_streams_filtered_visible_records_with_custom_fields(app, make_user):
    admin, sales = make_user("admin"), make_user("sales")
    with transaction(app.extensions["crm"].sessions) as s:
        cf.create_field(s, admin, {"record_type": "lead", "name": "plan", "label": "Plan",
                                   "field_type": "text"})
        for i in range(7):
            svc.create(s, sales, svc.LEADS, {"full_name": f"Lead {i}", "source": "web",
                                             "custom": {"plan": "=HYPERLINK(\"x\")"}})
        svc.create(s, admin, svc.LEADS, {"full_name": "<script>alert(1)</script>",
                                         "company": "-2+3", "source": "web"})
        gone = svc.create(s, admin, svc.LEADS, {"full_name": "Deleted", "source": "web"})
        svc.soft_delete(s, admin, svc.LEADS, [gone.id])
    with transaction(app.extensions["crm"].sessions) as s:
        everything = rows(export_csv(s, admin, svc.LEADS, {"source": "web"}, page_size=3))
        theirs = rows(export_csv(s, sales, svc.LEADS))
    header, *body = everything
    assert header[-1] == "custom.plan" and len(body) == 8
    assert "Deleted" not in {r[1] for r in body}
    scripted = next(r for r in body if r[1].startswith("<script"))
    assert scripted[1] == "<script>alert(1)</script>" and scripted[4] == "'-2+3"
    assert {r[-1] for r in body if r[1].startswith("Lead")} == {"'=HYPERLINK(\"x\")"}
    assert len(theirs) == 1 + 7
