"""Lead stages: admins configure them; rules keep them usable."""

from __future__ import annotations

import pytest

from crmcore.db import transaction
from crmcore.errors import Conflict, Forbidden, ValidationFailed
from crmcore.services import records as svc
from crmcore.services import stages

pytestmark = pytest.mark.plugins()


def test_admins_add_rename_and_remove_unused_stages(app, make_user):
    admin, sales = make_user("admin"), make_user("sales")

    def tx():
        return transaction(app.extensions["crm"].sessions)

    with tx() as s:
        assert [(x.name, x.kind) for x in stages.list_stages(s)] == [
            ("New", "open"), ("Contacted", "open"), ("Qualified", "open"), ("Won", "won"),
            ("Lost", "lost")]
        demo = stages.create_stage(s, admin, {"name": "Demo", "position": 35})
        assert [x.name for x in stages.list_stages(s)][3] == "Demo"
        stages.update_stage(s, admin, demo, {"name": "Demo booked"})
    with pytest.raises(Conflict), tx() as s:
        stages.update_stage(s, admin, stages.get_stage(s, demo.id), {"name": "Won"})
    with pytest.raises(ValidationFailed), tx() as s:
        stages.create_stage(s, admin, {"name": "X", "kind": "maybe"})
    with pytest.raises(Forbidden), tx() as s:
        stages.create_stage(s, sales, {"name": "Mine"})
    with tx() as s:
        demo = stages.get_stage(s, demo.id)
        assert demo.name == "Demo booked"
        lead = svc.create(s, admin, svc.LEADS, {"full_name": "In demo", "stage_id": demo.id})
        with pytest.raises(Conflict, match="1 lead"):
            stages.delete_stage(s, admin, demo)
        svc.update(s, admin, svc.LEADS, lead, {"stage_id": stages.list_stages(s)[0].id})
        stages.delete_stage(s, admin, demo)
        assert "Demo booked" not in [x.name for x in stages.list_stages(s)]


def test_the_last_open_stage_cannot_go(app, make_user):
    admin = make_user("admin")
    with pytest.raises(Conflict, match="open"), \
            transaction(app.extensions["crm"].sessions) as s:
        for stage in stages.list_stages(s):
            if stage.kind == "open":
                stages.update_stage(s, admin, stage, {"kind": "lost"})
