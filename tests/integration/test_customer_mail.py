"""The customer outbox reaches a real SMTP server: sent when it answers, failed (with the error)
when it does not, and a dispute goes on either way."""

from __future__ import annotations

import socket
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from importlib import resources

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from core.db import Database, run_sql
from core.mail import MailServer, send_mail
from core.settings import Settings
from disputes.commands.opening import open_dispute
from models.disputes import CustomerMessage, DisputeCreate, DisputeOpened
from tests.dispute_data import card_payment
from tests.helpers import eventually, new_staff, task_of
from worker import build_worker


@dataclass
class Inbox:
    """What the SMTP server received."""

    messages: list[Message] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(message_from_bytes(envelope.content))
        self.recipients.extend(envelope.rcpt_tos)
        return "250 Message accepted for delivery"

    def subjects_to(self, address: str) -> set[str]:
        return {str(m["Subject"]) for m in self.messages if m["To"] == address}


@dataclass
class Mail:
    inbox: Inbox
    controller: Controller
    settings: Settings  # with the task queue of a worker that sends through this server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def mail(
    temporal_env: WorkflowEnvironment, db: Database, settings: Settings
) -> AsyncIterator[Mail]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    server = MailServer(host="127.0.0.1", port=controller.port, sender="disputes@bank.test")
    queue = f"mail-{uuid.uuid4().hex[:8]}"
    try:
        async with build_worker(temporal_env.client, db, queue, mail=server):
            yield Mail(inbox, controller, settings.model_copy(update={"task_queue": queue}))
    finally:
        if controller.loop.is_running():  # a test may have stopped it already
            controller.stop()


async def dispute_for(
    db: Database, temporal_env: WorkflowEnvironment, settings: Settings, email: str | None
) -> DisputeOpened:
    """A 40 EUR dispute (credited at once) for a customer with this e-mail address, or none."""
    payment = await card_payment(db, amount="40.00")
    async with db.transaction() as session:
        await run_sql(
            session,
            "UPDATE customer SET email = :email WHERE id = :id",
            {"email": email, "id": payment.customer.id},
        )
    support = await new_staff(db, "support")
    return await open_dispute(
        db,
        temporal_env.client,
        settings,
        support.actor,
        DisputeCreate(
            transaction_id=payment.transaction_id,
            category="consumer_dispute",
            statement="The merchant charged me twice for one order.",
        ),
    )


async def outbox(db: Database, case_id: uuid.UUID) -> dict[str, CustomerMessage]:
    async with db.session() as session:
        rows = (
            await session.exec(select(CustomerMessage).where(CustomerMessage.case_id == case_id))
        ).all()
    return {row.dedupe_key.rsplit(":", 1)[-1]: row for row in rows}


async def settled(db: Database, case_id: uuid.UUID, *kinds: str) -> dict[str, CustomerMessage]:
    """The outbox once each of `kinds` has left the queued state."""

    async def probe() -> dict[str, CustomerMessage] | None:
        rows = await outbox(db, case_id)
        done = all(k in rows and rows[k].status != "queued" for k in kinds)
        return rows if done else None

    return await eventually(probe, what=f"delivery of {', '.join(kinds)}")


async def test_the_acknowledgement_and_the_credit_reach_the_smtp_server(
    db: Database, temporal_env: WorkflowEnvironment, mail: Mail
) -> None:
    address = f"customer-{uuid.uuid4().hex[:8]}@example.test"
    opened = await dispute_for(db, temporal_env, mail.settings, address)
    rows = await settled(db, opened.case_id, "opened", "provisional_credit")
    assert {k: (r.status, r.last_error) for k, r in rows.items()} == {
        "opened": ("sent", None),
        "provisional_credit": ("sent", None),
    }
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows.values())

    async def received() -> set[str]:
        return mail.inbox.subjects_to(address)

    async def both() -> bool:
        return len(await received()) == 2

    await eventually(both, what="both e-mails at the SMTP server")
    assert await received() == {
        f"We received your dispute {opened.reference}",
        f"Provisional credit for your dispute {opened.reference}",
    }
    [ack] = [m for m in mail.inbox.messages if m["To"] == address and "received" in m["Subject"]]
    assert ack["From"] == "disputes@bank.test"
    assert ack["Date"] and ack["Message-ID"]
    assert "40.00" in str(ack.get_payload())
    await temporal_env.client.get_workflow_handle(opened.workflow_id).terminate("test over")


async def test_with_the_smtp_server_down_messages_fail_and_the_dispute_goes_on(
    db: Database, temporal_env: WorkflowEnvironment, mail: Mail
) -> None:
    mail.controller.stop()
    address = f"customer-{uuid.uuid4().hex[:8]}@example.test"
    opened = await dispute_for(db, temporal_env, mail.settings, address)
    rows = await settled(db, opened.case_id, "opened")
    assert rows["opened"].status == "failed"
    assert "refused" in (rows["opened"].last_error or "")  # as the SMTP client saw it
    assert rows["opened"].sent_at is None
    # The dispute does not wait for the mail server: the credit is booked and the evidence
    # task opened while the delivery is retried in the background (first retry after 30 s,
    # which will take the credit message along).
    await task_of(db, opened.workflow_id, "agent#evidence")
    async with db.session() as session:
        credited = (
            await run_sql(
                session,
                "SELECT count(*) FROM account_adjustment WHERE case_id = :case "
                "AND kind = 'provisional_credit'",
                {"case": opened.case_id},
            )
        ).scalar_one()
    assert credited == 1
    rows = await outbox(db, opened.case_id)
    assert rows["provisional_credit"].status in ("queued", "failed")
    assert rows["provisional_credit"].sent_at is None
    assert mail.inbox.messages == []
    await temporal_env.client.get_workflow_handle(opened.workflow_id).terminate("test over")


async def test_a_customer_without_an_address_gets_no_address(
    db: Database, temporal_env: WorkflowEnvironment, mail: Mail
) -> None:
    opened = await dispute_for(db, temporal_env, mail.settings, None)
    rows = await settled(db, opened.case_id, "opened", "provisional_credit")
    assert {r.status for r in rows.values()} == {"no_address"}
    assert all(r.to_address is None and r.last_error for r in rows.values())
    await task_of(db, opened.workflow_id, "agent#evidence")
    assert mail.inbox.messages == []
    await temporal_env.client.get_workflow_handle(opened.workflow_id).terminate("test over")


async def test_starttls_refuses_a_server_whose_certificate_it_cannot_verify() -> None:
    certs = resources.files("aiosmtpd") / "tests" / "certs"
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(str(certs / "server.crt"), str(certs / "server.key"))
    inbox = Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), tls_context=tls, require_starttls=True
    )
    controller.start()
    try:
        server = MailServer(
            host="127.0.0.1",
            port=controller.port,
            sender="disputes@bank.test",
            username="backoffice",
            password="not-for-strangers",
            starttls=True,
        )
        # A self-signed certificate is what an impostor would present: no login, no message.
        with pytest.raises(ssl.SSLCertVerificationError):
            await send_mail(server, "customer@example.test", "Subject", "Body")
    finally:
        controller.stop()
    assert inbox.messages == []
