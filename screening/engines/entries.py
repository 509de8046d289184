"""What every watch-list parser produces, whatever the list's format: entries and their names.

An entry belongs to one list (`list_name`, e.g. "OFAC-SDN", "UN-SC", "PEP-OS") and is known
by the list's own `reference` (OFAC's ent_num as text, the UN's "QDi.001", OpenSanctions'
record id). `ent_num` is a number for it (the list's own when it has one, else a stable
31-bit hash of the reference, `number_for`). `entry_key` ("UN-SC:QDi.001") names it across
lists and versions; `entry_hash` fingerprints its content, so a new version can say which
entries changed and a suppression can be pinned to what was listed when it was approved.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from datetime import date

SANCTION = "sanction"
PEP = "role.pep"


@dataclass
class ParsedName:
    name: str
    kind: str  # primary | aka | fka | nka
    strength: str = "strong"  # strong | weak (nicknames, short acronyms, UN "low" quality)
    script: str = (
        "Latin"  # the Unicode script the name is written in (Latin, Arabic, Cyrillic, Han…)
    )
    quality: str | None = None  # the list's own word for the alias quality (UN: good / low)


@dataclass
class ParsedEntry:
    ent_num: int
    entry_type: str  # person | entity | vessel | aircraft
    primary_name: str
    names: list[ParsedName]
    programs: list[str]
    birth_dates: list[date] = field(default_factory=list)
    birth_years: list[int] = field(default_factory=list)
    nationalities: list[str] = field(default_factory=list)
    title: str | None = None
    remarks: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    list_name: str = ""
    reference: str = ""  # the list's own reference; "" means str(ent_num)
    topics: list[str] = field(default_factory=lambda: [SANCTION])

    @property
    def ref(self) -> str:
        return self.reference or str(self.ent_num)

    @property
    def entry_key(self) -> str:
        return entry_key(self.list_name, self.ref)

    @property
    def pep(self) -> bool:
        return PEP in self.topics


def entry_key(list_name: str, reference: str) -> str:
    """The name of a listed entry across lists and versions: "UN-SC:QDi.001"."""
    return f"{list_name}:{reference}"


def number_for(reference: str) -> int:
    """A stable positive 31-bit number for a list reference that is not a number itself."""
    digest = hashlib.blake2b(reference.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 2_147_483_647 + 1


def entry_hash(entry: ParsedEntry) -> str:
    """SHA-256 of what is listed about the entry (names, type, programmes, dates, places,
    remarks, details), independent of the list version it came in and of name order."""
    content = {
        "type": entry.entry_type,
        "primary": entry.primary_name,
        "names": sorted([n.name, n.kind, n.strength, n.script] for n in entry.names),
        "programs": sorted(entry.programs),
        "birth_dates": sorted(d.isoformat() for d in entry.birth_dates),
        "birth_years": sorted(entry.birth_years),
        "nationalities": sorted(entry.nationalities),
        "title": entry.title,
        "remarks": entry.remarks,
        "details": entry.details,
        "topics": sorted(entry.topics),
    }
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def script_of(text: str) -> str:
    """The main script of a name by its letters (Latin, Arabic, Cyrillic, Greek, Han, Hangul,
    Hiragana, Katakana, Hebrew…): the first word of the Unicode name of most letters."""
    counts: dict[str, int] = {}
    for char in text:
        if char.isalpha():
            script = unicodedata.name(char, "UNKNOWN").split(" ")[0]
            if script == "CJK":
                script = "HAN"
            counts[script] = counts.get(script, 0) + 1
    if not counts:
        return "Latin"
    return max(counts, key=lambda s: counts[s]).capitalize()
