"""Demo mail (``crm demo``): a short exchange with the first demo leads."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime

from crmcore_plugins.mail.models import MailMessage
from crmcore_plugins.mail.services.store import store_messages
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmcore.db import utcnow
from crmcore.models import Lead, User


def load_demo(session: Session, seller: User) -> int:
    """A short exchange with each of the first demo leads of ``seller``, stored
    once; returns how many demo messages the archive holds."""
    demo = select(func.count()).select_from(MailMessage).where(MailMessage.source == "demo")
    held = session.scalar(demo) or 0
    if held:
        return held
    leads = session.execute(select(Lead.id, Lead.full_name, Lead.email_key)
                            .where(Lead.owner_id == seller.id, Lead.email_key.is_not(None))
                            .order_by(Lead.id).limit(5)).all()
    raws = []
    for lead_id, name, address in leads:
        exchange = ((seller.email, address, "Your fibre quote",
                     f"Dear {name},\n\nour quote for a fibre line follows in the next mail."),
                    (address, seller.email, "Re: Your fibre quote",
                     "Thanks! Could you also price a static IP?"))
        for number, (sender, to, subject, text) in enumerate(exchange):
            msg = EmailMessage()
            msg["Message-ID"] = f"<demo-{lead_id}-{number}@crmcore.demo>"
            msg["From"], msg["To"], msg["Subject"] = sender, to, subject
            msg["Date"] = format_datetime(utcnow())
            msg.set_content(text)
            raws.append(msg.as_bytes())
    return store_messages(session, raws, "demo").stored
