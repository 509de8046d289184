"""Demo notes and files: a conversation on an AML case (an @mention, a correction), a bank
letter attached as a PDF, and a note on a card dispute — through the same functions the
case page and the JSON API call (audited, the mention notified)."""

from __future__ import annotations

from sqlmodel import col, select

from casework import attachments, notes
from core.db import Database
from core.settings import Settings
from demo.aml import SWIFT_IR, _case_of
from demo.seed import actor_named
from models.case_notes import CaseNote
from models.cases import Case


def letter_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with a few lines of Helvetica text (a valid file, xref and all)."""
    text = "BT /F1 11 Tf 56 780 Td 14 TL " + " ".join(
        "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
        for line in lines
    )
    stream = text.encode("latin-1") + b" ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


async def seed_case_notes(db: Database, settings: Settings) -> dict[str, int]:
    """Once: a database that has any case note keeps what it has."""
    async with db.session() as session:
        if (await session.exec(select(CaseNote.id))).first():
            return {}
    ana, ivan = await actor_named(db, "aml.ana"), await actor_named(db, "aml.ivan")
    _, swift_ir, _ = await _case_of(db, SWIFT_IR)
    written = 0
    for actor, body, corrects in (
        (
            ana,
            "Called the customer: the SWIFT payment is for machine parts, invoice 2211. "
            "@aml.ivan the beneficiary's bank is the one from last year's case, can you compare?",
            None,
        ),
        (ivan, "Compared: same beneficiary bank, different account. Asked for the contract.", None),
        (ana, "The invoice number is 2212, not 2211 (typo in N-1).", 1),
    ):
        await notes.add_note(db, actor, swift_ir, body=body, corrects=corrects)
        written += 1
    letter = letter_pdf(
        [
            "Kish Trading Co - commercial invoice 2212",
            "Machine parts, 48 units, EUR 48,000.00",
            "Beneficiary bank letter confirming the account holder.",
        ]
    )
    await attachments.add_attachment(
        db, settings, ana, swift_ir, filename="bank-letter-invoice-2212.pdf", content=letter
    )

    # A disputes agent's note on the first dispute.
    dee = await actor_named(db, "disputes.dee")
    async with db.session() as session:
        dispute = (
            await session.exec(
                select(Case.id).where(Case.case_type == "dispute").order_by(col(Case.opened_at))
            )
        ).first()
    if dispute is not None:
        await notes.add_note(
            db,
            dee,
            dispute,
            body="Customer confirms the card was in their possession; merchant site shows "
            "no delivery tracking. Waiting for the merchant's answer.",
        )
        written += 1
    return {"case notes": written, "case files": 1}
