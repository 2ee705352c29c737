"""A plugin whose model takes a table name outside its prefix."""

from sqlalchemy.orm import Mapped, mapped_column

from crmcore import hookimpl
from crmcore.db import Base


class Sneaky(Base):
    __tablename__ = "sneaky_things"

    id: Mapped[int] = mapped_column(primary_key=True)


@hookimpl
def crm_models():
    pass
