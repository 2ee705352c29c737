"""The plugin's tables. Every table name starts with the plugin's name and an
underscore; crmcore refuses to start a plugin whose models break that rule."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text, func
from sqlalchemy.orm import Mapped, mapped_column

from crmcore.db import Base, utcnow


class ExampleNote(Base):
    __tablename__ = "example_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    def __repr__(self) -> str:
        return f"<ExampleNote {self.id}>"
