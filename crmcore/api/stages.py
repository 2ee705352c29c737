"""Lead stages."""

from __future__ import annotations

from flask import Response, url_for

from crmcore.api.blueprint import actor, bp, doc, json_body, json_response, query_args
from crmcore.app import db
from crmcore.schemas.records import StageSchema
from crmcore.services import stages


@bp.get("/stages")
@doc("stages", response="StageList")
def stages_list() -> Response:
    """List lead stages, in pipeline order."""
    query_args(())
    return json_response({"items": StageSchema(many=True).dump(stages.list_stages(db()))})


@bp.post("/stages")
@doc("stages", body="StageSchema", response="StageSchema", status=201,
     headers={"Location": "The new stage."})
def stages_create() -> Response:
    """Add a lead stage.

    Needs settings.manage.
    """
    session = db()
    stage = stages.create_stage(session, actor(), json_body())
    session.commit()
    return json_response(StageSchema().dump(stage), 201,
                         location=url_for("api.stages_list") + f"#{stage.id}")


@bp.patch("/stages/<int:stage_id>")
@doc("stages", body="StageUpdate", response="StageSchema")
def stages_update(stage_id: int) -> Response:
    """Rename, reorder or re-kind a lead stage.

    Needs settings.manage.
    """
    session = db()
    stage = stages.update_stage(session, actor(), stages.get_stage(session, stage_id),
                                json_body())
    session.commit()
    return json_response(StageSchema().dump(stage))
