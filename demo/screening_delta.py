"""Demo: a new UN list version re-screens only the customers it can touch, and a dismissed
hit waits for a second analyst's whitelisting.

The next UN version is the real UN file (data/sanctions) with one entry taken out and one
added that names a customer of the demo book: a made-up designation, dated the day after
the real file and imported from a file named `…demo.xml.gz`, so nobody mistakes it for a
UN publication. Its delta re-screen (DeltaRescreenWorkflow) names how many customers it
re-screened of how many; kyc.kim dismisses the new hit, and the whitelisting she proposed
waits in the inbox for a second analyst (kyc.kai or kyc.ken).
"""

from __future__ import annotations

import gzip
import logging
import tempfile
import xml.etree.ElementTree as ET  # writing only; the file is read with defusedxml
from datetime import date, timedelta
from pathlib import Path

from defusedxml import ElementTree as SafeET
from sqlmodel import col, select
from temporalio.client import Client

from core.db import Database, run_sql
from core.schedules import start_delta_rescreen
from core.settings import Settings
from demo.seed import actor_named, work_task
from models.onboarding import Customer
from models.screening_io import DeltaRescreenSummary
from screening.commands.importer import DEMO_LISTS, import_list

log = logging.getLogger(__name__)

UN = "UN-SC"
DEMO_REFERENCE = "QDi.990"  # not a UN reference in use
DEMO_DATAID = "99000990"


def _next_un_file(source: Path, target: Path, first: str, last: str, day: date) -> str:
    """The UN file with its first individual taken out and one added; the removed entry's
    reference."""
    root = SafeET.fromstring(gzip.decompress(source.read_bytes()))
    individuals = root.find("INDIVIDUALS")
    assert individuals is not None
    removed = individuals.find("INDIVIDUAL")
    assert removed is not None
    reference = removed.findtext("REFERENCE_NUMBER") or ""
    individuals.remove(removed)
    added = ET.SubElement(individuals, "INDIVIDUAL")
    for tag, text in (
        ("DATAID", DEMO_DATAID),
        ("VERSIONNUM", "1"),
        ("FIRST_NAME", first.upper()),
        ("SECOND_NAME", last.upper()),
        ("UN_LIST_TYPE", "DRC"),
        ("REFERENCE_NUMBER", DEMO_REFERENCE),
        ("LISTED_ON", day.isoformat()),
        ("COMMENTS1", "Demo designation (backoffice demo seed): not a UN listing."),
    ):
        ET.SubElement(added, tag).text = text
    born = ET.SubElement(added, "INDIVIDUAL_DATE_OF_BIRTH")
    ET.SubElement(born, "TYPE_OF_DATE").text = "EXACT"
    ET.SubElement(born, "YEAR").text = "1958"
    root.set("dateGenerated", f"{day.isoformat()}T00:00:00.000Z")
    target.write_bytes(gzip.compress(ET.tostring(root, encoding="utf-8", xml_declaration=True)))
    return reference


async def seed_screening_delta(
    db: Database, temporal: Client, settings: Settings
) -> dict[str, int]:
    source = next((path for name, path, _ in DEMO_LISTS if name == UN), None)
    async with db.session() as session:
        base = (
            await run_sql(
                session,
                "SELECT max(list_date) AS d, count(*) AS n FROM watchlist_version "
                "WHERE list_name = :n",
                {"n": UN},
            )
        ).one()
        customer = (
            await session.exec(
                select(Customer)
                .where(Customer.kind == "individual", col(Customer.legacy_ref).is_not(None))
                .order_by(col(Customer.reference))
                .offset(7)
                .limit(1)
            )
        ).first()
    if source is None or base.d is None or base.n != 1 or customer is None:
        return {}  # no UN list, or the demo's next version is in already
    first, _, last = customer.name.partition(" ")
    day = base.d + timedelta(days=1)
    with tempfile.TemporaryDirectory(prefix="backoffice-seed-") as tmp:
        path = Path(tmp) / f"un_consolidated_{day.isoformat()}.demo.xml.gz"
        _next_un_file(source, path, first, last, day)
        report = await import_list(db, UN, path, list_date=day)
    assert report.version_id is not None
    workflow_id = await start_delta_rescreen(
        temporal, settings, report.version_id, report.list_version
    )
    summary = await temporal.get_workflow_handle(
        workflow_id, result_type=DeltaRescreenSummary
    ).result()
    log.info("demo delta re-screen: %s", summary.text)
    # The new hit's alert (whichever run opened it): kyc.kim dismisses it, which proposes a
    # whitelisting that a second analyst must approve.
    async with db.session() as session:
        case = (
            await run_sql(
                session,
                'SELECT c.workflow_id FROM screening_match m JOIN "case" c ON c.id = m.case_id '
                "WHERE m.customer_id = :c AND m.entry_key = :k",
                {"c": customer.id, "k": f"{UN}:{DEMO_REFERENCE}"},
            )
        ).first()
    if case is None:
        log.warning("the demo UN entry raised no alert; no whitelisting to show")
        return {"delta re-screens": 1}
    await work_task(
        db,
        temporal,
        await actor_named(db, "kyc.kim"),
        case.workflow_id,
        "alert-review",
        "false_positive",
        reason="common_name",
        comment="Only the name agrees: the identity documents on file show a different person.",
    )
    return {"delta re-screens": 1, "whitelistings awaiting approval": 1}
