"""Statement sources: the list, and what a new or re-mapped source must be (its accounts,
format, currency, channels and a CSV source's column mapping, validated by
`reconciliation.engines.csv_mapping.CsvMapping`).

Creating or re-mapping a source is a maker-checker change (`source_changes`): finance_ops
proposes, a different finance_ops or ops_manager approves, and only the approved values
are written (`write_source`), with their `recon.source_saved` audit event.
"""

from __future__ import annotations

import typing
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from audit.trail import ActorRef
from core.db import Database
from identity.access import record_refusal, require
from identity.actors import Actor
from models.aml import CHANNELS
from models.base import utcnow
from models.cases import Case
from models.changes import OPEN_CHANGE_STATUSES, ChangeRequest
from models.money import MINOR_UNITS
from models.reconciliation import ReconSource, ReconStatement
from models.workflow_io import Origin
from reconciliation.engines.accounts import check_source_accounts
from reconciliation.engines.csv_mapping import PRESETS, CsvMapping
from reconciliation.engines.lines import FORMAT_LABELS, FORMATS
from shared.errors import NotFound

ACTION = "recon.source_saved"
MAPPING_PREFIX = "csv_"  # form fields of the column mapping: csv_<field of CsvMapping>


class SourceForm(BaseModel):
    """What the source form or the API submits; check_source checks every field."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    format: str = ""
    accounts: list[str] = Field(default_factory=list)  # one identifier each
    account: str = ""  # a single identifier (older callers): taken as the first of accounts
    currency: str = ""
    channels: list[str] = Field(default_factory=list)
    batch_channels: list[str] = Field(default_factory=list)
    description: str = ""
    csv_mapping: dict[str, Any] | None = None  # CSV only: CsvMapping's fields
    reason: str = ""  # why (the checker reads it): 10 to 2000 characters


class SourcePublic(BaseModel):
    id: uuid.UUID
    name: str
    format: str
    format_label: str
    accounts: list[str]
    account: str | None  # the first of accounts
    currency: str
    channels: list[str]
    batch_channels: list[str]
    description: str | None
    csv_mapping: dict[str, Any] | None
    statements: int
    last_upload_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int = 1
    pending_changes: list[str] = Field(default_factory=list)  # CHG- references awaiting approval


class ProposedSource(BaseModel):
    """A new source proposed and not yet approved."""

    name: str
    change_reference: str
    case_id: uuid.UUID


class SourcePage(BaseModel):
    items: list[SourcePublic]
    total: int
    page: int
    per_page: int
    proposed: list[ProposedSource] = Field(default_factory=list)


class MappingField(BaseModel):
    """One field of the CSV column mapping, as the form shows it."""

    name: str  # the form field is csv_<name>
    label: str
    help: str | None
    required: bool
    default: str
    choices: list[str] = Field(default_factory=list)  # a fixed set of values (Literal)


# The form's words for CsvMapping's fields (a field missing here is shown by its name).
MAPPING_LABELS: dict[str, tuple[str, str | None]] = {
    "delimiter": ("Column delimiter", "One character, such as , or ; — or the word tab."),
    "decimal_separator": ("Decimal separator", None),
    "thousands_separator": (
        "Thousands separator",
        "Empty when numbers are not grouped; a space counts.",
    ),
    "date_format": ("Date format", "As Python writes dates: %Y-%m-%d, %d.%m.%Y, %d/%m/%Y."),
    "encoding": ("Text encoding", "utf-8, cp1252 or latin-1."),
    "booked_on": ("Booking date column", "The header of the column with the booking date."),
    "value_date": ("Value date column", None),
    "amount": (
        "Amount column",
        "A signed amount; or leave it empty and name the debit and credit columns.",
    ),
    "debit_amount": ("Debit column", None),
    "credit_amount": ("Credit column", None),
    "direction": (
        "Direction column",
        "With an unsigned amount column: the column saying credit or debit.",
    ),
    "credit_values": ("Values marking a credit", "Separated by commas."),
    "debit_values": ("Values marking a debit", "Separated by commas."),
    "currency_column": ("Currency column", None),
    "currency": ("Currency of every line", "When the file has no currency column, e.g. EUR."),
    "reference": ("Reference column", "What lines are matched on (end-to-end id, invoice)."),
    "bank_reference": ("Bank reference column", None),
    "counterparty_name": ("Counterparty name column", None),
    "counterparty_account": ("Counterparty account column", None),
    "description": ("Description column", None),
}


def mapping_fields() -> list[MappingField]:
    """CsvMapping's fields, in its own order, for the form."""
    fields = []
    for name, info in CsvMapping.model_fields.items():
        annotation = info.annotation
        choices: list[str] = []
        for arg in (annotation, *typing.get_args(annotation)):
            if typing.get_origin(arg) is typing.Literal:
                choices = [str(a) for a in typing.get_args(arg)]
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        label, hint = MAPPING_LABELS.get(name, (name.replace("_", " ").capitalize(), None))
        fields.append(
            MappingField(
                name=name,
                label=label,
                help=hint,
                required=info.is_required(),
                default="" if default is None else mapping_text(default),
                choices=choices,
            )
        )
    return fields


def mapping_text(value: Any) -> str:
    """A mapping value as the form shows it (lists as comma-separated words)."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def preset_mapping(key: str) -> dict[str, str] | None:
    """A ready layout's values for the form, or None for an unknown preset."""
    found = PRESETS.get(key)
    if found is None:
        return None
    return {k: mapping_text(v) for k, v in found[1].model_dump(mode="json").items()}


PRESET_LABELS = {key: label for key, (label, _) in PRESETS.items()}


def _public(source: ReconSource, statements: int, last: datetime | None) -> SourcePublic:
    return SourcePublic(
        id=source.id,
        name=source.name,
        format=source.format,
        format_label=FORMAT_LABELS.get(source.format, source.format),
        accounts=listed_accounts(source),
        account=source.account,
        currency=source.currency,
        channels=list(source.channels),
        batch_channels=list(source.batch_channels),
        description=source.description,
        csv_mapping=source.csv_mapping,
        statements=statements,
        last_upload_at=last,
        created_at=source.created_at,
        updated_at=source.updated_at,
        version=source.current_version,
    )


def listed_accounts(source: ReconSource) -> list[str]:
    """The accounts a source lists (a row written with only the single account column, as
    before the list existed, lists that one)."""
    if source.accounts:
        return list(source.accounts)
    return [source.account] if source.account else []


async def list_sources(
    db: Database, actor: Actor, *, page: int = 1, per_page: int = 50
) -> SourcePage:
    """Every source by name, with how many statements it has sent and the latest upload."""
    await require(
        db, actor, "reconciliation", "read", action="recon.sources", object_type="recon_source"
    )
    page, per_page = max(page, 1), min(max(per_page, 1), 200)
    uploads = (
        select(
            col(ReconStatement.source_id).label("source_id"),
            func.count().label("n"),
            func.max(ReconStatement.uploaded_at).label("last"),
        )
        .group_by(col(ReconStatement.source_id))
        .subquery()
    )
    async with db.session() as session:
        total = (await session.exec(select(func.count()).select_from(ReconSource))).one()
        rows = (
            await session.exec(
                select(ReconSource, uploads.c.n, uploads.c.last)
                .outerjoin(uploads, uploads.c.source_id == ReconSource.id)
                .order_by(col(ReconSource.name))
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
        ).all()
        pending = await _open_source_changes(session)
    items = [_public(s, int(n or 0), last) for s, n, last in rows]
    for item in items:
        item.pending_changes = [ref for target, ref, _, _ in pending if target == item.id]
    known = {item.id for item in items}
    return SourcePage(
        items=items,
        total=int(total),
        page=page,
        per_page=per_page,
        proposed=[
            ProposedSource(name=name, change_reference=ref, case_id=case_id)
            for target, ref, name, case_id in pending
            if name is not None and target not in known and page == 1
        ],
    )


async def _open_source_changes(
    session: AsyncSession,
) -> list[tuple[uuid.UUID, str, str | None, uuid.UUID]]:
    """(source id, CHG- reference, name of a new source or None, case id) of every source
    change awaiting approval, oldest first."""
    rows = (
        await session.exec(
            select(ChangeRequest, Case.reference)
            .join(Case, col(Case.id) == ChangeRequest.case_id)
            .where(
                ChangeRequest.target_type == "recon_source",
                col(ChangeRequest.status).in_([s.value for s in OPEN_CHANGE_STATUSES]),
            )
            .order_by(col(ChangeRequest.created_at))
        )
    ).all()
    return [
        (
            change.target_id,
            reference,
            str(change.after.get("name")) if change.base_version == 0 else None,
            change.case_id,
        )
        for change, reference in rows
    ]


async def source_choices(db: Database) -> list[tuple[uuid.UUID, str]]:
    """(id, "name — format, currency") of every source, for filters and the upload form."""
    async with db.session() as session:
        rows = (await session.exec(select(ReconSource).order_by(col(ReconSource.name)))).all()
    return [
        (s.id, f"{s.name} — {FORMAT_LABELS.get(s.format, s.format)}, {s.currency}") for s in rows
    ]


async def get_source(db: Database, actor: Actor, source_id: uuid.UUID) -> SourcePublic:
    """One source, for its edit form (only those who may manage sources open that)."""
    await require(
        db,
        actor,
        "reconciliation",
        "manage_sources",
        action=ACTION,
        object_type="recon_source",
        object_id=source_id,
    )
    async with db.session() as session:
        source = await session.get(ReconSource, source_id)
        if source is None:
            error = NotFound(f"No statement source with id {source_id}.")
            await record_refusal(
                db, actor, error, action=ACTION, object_type="recon_source", object_id=source_id
            )
            raise error
        count, last = (
            await session.exec(
                select(func.count(), func.max(ReconStatement.uploaded_at)).where(
                    ReconStatement.source_id == source_id
                )
            )
        ).one()
    return _public(source, int(count), last)


def _check(form: SourceForm) -> tuple[dict[str, Any], dict[str, str]]:
    """The cleaned values, and a message per bad field."""
    errors: dict[str, str] = {}
    name = " ".join(form.name.split())
    if not name:
        errors["name"] = "Give the source a name, e.g. “Main EUR account at Bank X”."
    elif len(name) > 100:
        errors["name"] = "At most 100 characters."
    fmt = form.format.strip()
    if fmt not in FORMATS:
        errors["format"] = "Choose the statement format: " + ", ".join(FORMAT_LABELS.values())
    currency = form.currency.strip().upper()
    if currency not in MINOR_UNITS:
        errors["currency"] = "A three-letter ISO 4217 currency we know, e.g. EUR."
    typed = [form.account, *form.accounts] if form.account.strip() else list(form.accounts)
    checked = check_source_accounts(typed, currency if currency in MINOR_UNITS else "")
    if checked.errors:
        errors["accounts"] = "; ".join(checked.errors)
    channels = [c for c in dict.fromkeys(c.strip() for c in form.channels) if c]
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        errors["channels"] = f"Unknown channel {', '.join(unknown)}; one of {', '.join(CHANNELS)}."
    elif not channels:
        errors["channels"] = "Choose at least one channel of ours this source's statements show."
    batch = [c for c in dict.fromkeys(c.strip() for c in form.batch_channels) if c]
    outside = [c for c in batch if c not in channels]
    if outside and "channels" not in errors:
        errors["batch_channels"] = (
            f"{', '.join(outside)} is not one of the source's channels; a batch channel must be."
        )
    description = form.description.strip() or None
    if description and len(description) > 500:
        errors["description"] = "At most 500 characters."
    mapping = None
    if fmt == "csv":
        mapping, problems = _check_mapping(form.csv_mapping or {})
        errors.update(problems)
    values = {
        "name": name,
        "format": fmt,
        "accounts": checked.texts,
        "account": checked.texts[0][:64] if checked.texts else None,
        "currency": currency,
        "channels": channels,
        "batch_channels": batch,
        "description": description,
        "csv_mapping": mapping,
    }
    return values, errors


def _check_mapping(raw: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The mapping as CsvMapping validates it; errors keyed csv_<field> (csv_mapping: whole)."""
    list_fields = {
        name
        for name, info in CsvMapping.model_fields.items()
        if isinstance(info.get_default(call_default_factory=True), list)
    }
    # An emptied list field falls back to its default; other fields say what is missing.
    given = {k: v for k, v in raw.items() if not (k in list_fields and v == "")}
    try:
        mapping = CsvMapping.model_validate(given)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            key = (
                f"{MAPPING_PREFIX}{loc[0]}"
                if loc and loc[0] in CsvMapping.model_fields
                else ("csv_mapping")
            )
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            if err.get("type") == "extra_forbidden":
                message = f"{loc[0] if loc else 'A field'} is not part of a CSV mapping."
            errors.setdefault(key, message)
        return None, errors
    return mapping.model_dump(mode="json"), {}


def check_source(form: SourceForm) -> tuple[dict[str, Any], dict[str, str]]:
    """The values a source would have, and a message per bad field (reason included)."""
    values, errors = _check(form)
    reason = " ".join(form.reason.split())
    if not 10 <= len(reason) <= 2000:
        errors["reason"] = "Say why, for the person who approves it (10 to 2000 characters)."
    return values, errors


async def name_clash(session: AsyncSession, name: str, source_id: uuid.UUID | None) -> bool:
    """Does another source already have this name (case-insensitive)?"""
    clash = (
        await session.exec(
            select(ReconSource.id).where(
                func.lower(ReconSource.name) == name.lower(),
                col(ReconSource.id) != (source_id or uuid.UUID(int=0)),
            )
        )
    ).first()
    return clash is not None


async def write_source(
    session: AsyncSession,
    *,
    values: dict[str, Any],
    source_id: uuid.UUID,
    version: int,
    actor: ActorRef,
    created_by: uuid.UUID | None,
    origin: Origin | None = None,
    workflow_id: str | None = None,
    change_id: uuid.UUID | None = None,
) -> ReconSource:
    """Write approved values as version `version` of the source (created when absent), with
    its `recon.source_saved` audit event, in the caller's transaction."""
    source = await session.get(ReconSource, source_id, with_for_update=True)
    before = _public(source, 0, None).model_dump(mode="json") if source else None
    fields = {k: v for k, v in values.items() if k in SOURCE_FIELDS}
    if source is None:
        source = ReconSource(id=source_id, created_by=created_by, **fields)
    else:
        for key, value in fields.items():
            setattr(source, key, value)
        source.updated_at = utcnow()
    source.current_version = version
    session.add(source)
    await session.flush()
    after = _public(source, 0, None).model_dump(mode="json")
    changed = sorted(k for k in fields if not before or before.get(k) != after.get(k))
    await audit.record(
        session,
        action=ACTION,
        actor=actor,
        object_type="recon_source",
        object_id=source.id,
        origin=origin,
        workflow_id=workflow_id,
        details={
            "name": source.name,
            "created": before is None,
            "changed": changed,
            "version": version,
            "change_id": change_id,
        },
    )
    return source


# What a source change sets, in the order the approval page shows it.
SOURCE_FIELDS = (
    "name",
    "format",
    "accounts",
    "account",
    "currency",
    "channels",
    "batch_channels",
    "description",
    "csv_mapping",
)
