"""What the watch-list parsers share: reading a (gzipped) file, safe XML, country codes,
and the error every parser raises when a file is not the list it claims to be."""

from __future__ import annotations

import gzip
import re
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET

from screening.engines.ofac import country_code

# Countries as the UN, EU and UK spell them that pycountry does not find by name.
COUNTRY_NAMES = {
    "democratic people's republic of korea": "KP",
    "republic of korea": "KR",
    "iran (islamic republic of)": "IR",
    "russian federation": "RU",
    "united kingdom of great britain and northern ireland": "GB",
    "united kingdom": "GB",
    "syrian arab republic": "SY",
    "türkiye": "TR",
    "turkiye": "TR",
    "state of palestine": "PS",
    "occupied palestinian territories": "PS",
    "united republic of tanzania": "TZ",
    "united states of america": "US",
    "democratic republic of the congo": "CD",
    "republic of the congo": "CG",
    "congo": "CG",
    "lao people's democratic republic": "LA",
    "republic of moldova": "MD",
    "bolivia (plurinational state of)": "BO",
    "venezuela (bolivarian republic of)": "VE",
    "viet nam": "VN",
    "ivory coast": "CI",
    "côte d'ivoire": "CI",
    "guinea-bissau": "GW",
}


T = TypeVar("T")


class ListFileError(ValueError):
    """The file is not the watch list it was given as; the message says where and why."""


def read_bytes(path: Path) -> bytes:
    """The file's bytes (gunzipped when it ends in .gz)."""
    raw = Path(path).read_bytes()
    if Path(path).suffix == ".gz":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ListFileError(f"{Path(path).name} is not a valid gzip file: {exc}") from None
    return raw


def parse_xml(data: bytes) -> Element:
    """The document's root element; no DTDs, entity expansion or external references."""
    try:
        root: Element = SafeET.fromstring(data, forbid_dtd=True)
    except SafeET.ParseError as exc:
        raise ListFileError(f"not well-formed XML: {exc}") from None
    except Exception as exc:  # defusedxml's DTDForbidden, EntitiesForbidden…
        raise ListFileError(f"refused XML: {exc}") from None
    return root


def local(tag: str) -> str:
    """An element's tag without its namespace: "{ns}export" → "export"."""
    return tag.rsplit("}", 1)[-1]


def country(name: str | None) -> str | None:
    """ISO 3166 alpha-2 code for a country name or code as a list spells it, or None."""
    if not name:
        return None
    text = " ".join(name.split())
    if text.lower() in ("na", "n/a", "unknown", "-"):
        return None
    if len(text) == 2 and text.isalpha():
        return text.upper()
    return COUNTRY_NAMES.get(text.lower()) or country_code(text)


_DATE_IN_NAME = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def date_in_name(path: Path) -> date | None:
    """`un_consolidated_2026-02-27.xml.gz` → 2026-02-27."""
    m = _DATE_IN_NAME.search(Path(path).name)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(0), "%Y-%m-%d").date()
    except ValueError:
        return None


def iso_date(text: str | None) -> date | None:
    """The date at the start of an ISO date or timestamp ("2026-02-27T00:00:09Z")."""
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


def add_unique(values: list[T], value: T | None) -> None:
    """Append `value` unless it is empty or already there (lists keep the file's order)."""
    if value and value not in values:
        values.append(value)
