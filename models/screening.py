"""Watch lists (one row per imported list version), their entries and every listed name."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from models.base import jsonb, tz_now

NAME_KINDS = ("primary", "aka", "fka", "nka")
ENTRY_TYPES = ("person", "entity", "vessel", "aircraft")


class WatchlistVersion(SQLModel, table=True):
    """One imported publication of a list; the newest list date is the current one."""

    __tablename__ = "watchlist_version"
    __table_args__ = (
        UniqueConstraint("list_name", "list_date", name="uq_watchlist_version_list_date"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(Integer, Identity(always=False), primary_key=True)
    )
    list_name: str = Field(max_length=40)
    list_date: date
    imported_at: datetime = tz_now()
    entry_count: int
    name_count: int
    source_file: str = Field(max_length=300)
    source_sha256: str = Field(max_length=64)
    list_kind: str = Field(default="sanctions", max_length=12)  # sanctions | pep
    # The per-entry diff against the previous version of the same list (empty for a first):
    # {"previous": label, "added": n, "changed": n, "removed": n}.
    delta: dict[str, Any] = jsonb()

    @property
    def label(self) -> str:
        return f"{self.list_name} {self.list_date.isoformat()}"


class WatchlistEntry(SQLModel, table=True):
    __tablename__ = "watchlist_entry"
    __table_args__ = (
        Index("ix_watchlist_entry_version_ent", "version_id", "ent_num", unique=True),
        Index("ix_watchlist_entry_version_reference", "version_id", "reference", unique=True),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    version_id: int = Field(foreign_key="watchlist_version.id")
    ent_num: int  # the list's own id for the entry
    entry_type: str = Field(max_length=16)  # person | entity | vessel | aircraft
    primary_name: str = Field(max_length=500)
    programs: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String(60)), nullable=False)
    )
    birth_dates: list[date] = Field(
        default_factory=list, sa_column=Column(ARRAY(Date), nullable=False)
    )
    birth_years: list[int] = Field(
        default_factory=list, sa_column=Column(ARRAY(Integer), nullable=False)
    )
    nationalities: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String(2)), nullable=False)
    )
    title: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    remarks: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    details: dict[str, Any] = jsonb()
    reference: str = Field(default="", max_length=80)  # the list's own ("QDi.001")
    content_hash: str = Field(default="", max_length=64)  # entries.entry_hash
    topics: list[str] = Field(
        default_factory=lambda: ["sanction"], sa_column=Column(ARRAY(String(20)), nullable=False)
    )


class WatchlistName(SQLModel, table=True):
    __tablename__ = "watchlist_name"

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    entry_id: int = Field(foreign_key="watchlist_entry.id", index=True)
    name: str = Field(max_length=500)
    name_kind: str = Field(max_length=8)  # primary | aka | fka | nka
    strength: str = Field(max_length=8)  # strong | weak (nicknames, short acronyms)
    script: str = Field(default="Latin", max_length=20)  # Latin, Arabic, Cyrillic, Han…
    quality: str | None = Field(default=None, max_length=12)  # the list's word (UN good/low)


class WatchlistNamePublic(BaseModel):
    name: str
    name_kind: str
    strength: str
    script: str = "Latin"
    quality: str | None = None


class WatchlistEntryPublic(BaseModel):
    """One listed entry as a reviewer sees it."""

    list_entry_id: int  # the entry's number on its list (OFAC ent_num; entries.number_for)
    list_version: str
    list_name: str = ""  # the list's name ("OFAC-SDN", "UN-SC", "PEP-OS"…)
    reference: str = ""  # the list's own reference ("QDi.001")
    topics: list[str] = []
    entry_type: str
    primary_name: str
    names: list[WatchlistNamePublic]
    programs: list[str]
    birth_dates: list[date]
    birth_years: list[int]
    nationalities: list[str]
    title: str | None = None
    remarks: str | None = None
    details: dict[str, Any] = {}
