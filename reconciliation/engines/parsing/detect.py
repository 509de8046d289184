"""What a file looks like, from its first bytes: the statement formats we read, and the
neighbours people upload by mistake (camt.052/054, MT942), named so that the upload can say
"this looks like MT942; the source expects SWIFT MT940" before anything is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reconciliation.engines.lines import FORMAT_LABELS
from reconciliation.engines.parsing.camt053 import ISO_NAMESPACE, message_problem

SNIFF = 64 * 1024  # how much of the start of a file decides its format
_XML_NAMESPACE = re.compile(rb"""xmlns(?::\w+)?\s*=\s*["']([^"']*)["']""")
_MT_TAG = re.compile(rb"(?m)^:(20|25|28C?|60[FM]?|61|62[FM]?|13D|34F|90[CD]):")
_MT940_TAGS = {b"25", b"28", b"28C", b"60F", b"60M", b"60", b"61", b"62F", b"62M", b"62"}
_MT942_TAGS = {b"13D", b"34F", b"90C", b"90D"}
_OPENING_TAGS = {b"60F", b"60M", b"60"}
_CSV_DELIMITERS = (b",", b";", b"\t", b"|")

# What each kind is called when it is not what the source expects.
LABELS = {
    "camt053": "camt.053",
    "camt052": "camt.052 (an intraday account report)",
    "camt054": "camt.054 (a debit/credit notification)",
    "mt940": "MT940",
    "mt942": "MT942 (an intraday report)",
    "csv": "CSV",
    "xml": "XML that is not an ISO 20022 message",
}
MT942_ADVICE = "MT942 is an intraday report; upload the end-of-day MT940"
CAMT052_ADVICE = "camt.052 is an intraday report; upload the end-of-day camt.053 statement"


@dataclass(frozen=True)
class Detected:
    """What the file looks like. `kind` is a statement format we read (camt053, mt940, csv),
    a neighbour (camt052, camt054, mt942, iso20022, xml), or unknown; `problem` says why it
    cannot be read when that is already clear from its first bytes."""

    kind: str
    label: str
    problem: str | None = None

    @property
    def known(self) -> bool:
        return self.kind != "unknown"


UNKNOWN = Detected(
    "unknown",
    "an unknown format",
    "this is neither a camt.053 statement (XML), an MT940 statement, nor a CSV table",
)


def sniff(data: bytes) -> Detected:
    """What the file looks like, judged from its first SNIFF bytes."""
    head = data[:SNIFF].lstrip(b"\xef\xbb\xbf \t\r\n\x00\x01")
    if not head:
        return Detected("unknown", "an empty file", "the file is empty")
    if head.startswith(b"<"):
        return _xml(head)
    tags = {match.group(1) for match in _MT_TAG.finditer(head)}
    if b"20" in tags and tags & _MT942_TAGS and not tags & _OPENING_TAGS:
        return Detected("mt942", LABELS["mt942"], MT942_ADVICE)
    if b"20" in tags and tags & _MT940_TAGS:
        return Detected("mt940", LABELS["mt940"])
    first_line = head.split(b"\n", 1)[0]
    if any(delimiter in first_line for delimiter in _CSV_DELIMITERS):
        return Detected("csv", LABELS["csv"])
    return UNKNOWN


def _xml(head: bytes) -> Detected:
    namespaces = [ns.decode("ascii", "replace") for ns in _XML_NAMESPACE.findall(head)]
    iso = [ns for ns in namespaces if ns.startswith(ISO_NAMESPACE)]
    if not iso:
        return Detected(
            "xml",
            LABELS["xml"],
            "this XML is not an ISO 20022 document: this is not a bank statement",
        )
    problems = [message_problem(ns) for ns in iso]
    if None in problems:
        return Detected("camt053", LABELS["camt053"])
    # The message itself, not a header around it (head.001 in a business envelope).
    messages = [ns.removeprefix(ISO_NAMESPACE) for ns in iso if "head." not in ns] or [
        iso[0].removeprefix(ISO_NAMESPACE)
    ]
    kind = ".".join(messages[0].split(".")[:2])
    problem = problems[0] or "not a camt.053 statement"
    if kind == "camt.053":  # a version we do not read: a camt.053 all the same
        return Detected("camt053", LABELS["camt053"], problem)
    if kind == "camt.052":
        return Detected("camt052", LABELS["camt052"], problem)
    if kind == "camt.054":
        return Detected("camt054", LABELS["camt054"], problem)
    return Detected("iso20022", kind, problem)


def upload_problem(detected: Detected, source_name: str, source_format: str) -> str | None:
    """Why a file that looks like this is not taken by a source of this format (None: it is
    taken, or it cannot be told from the first bytes and the reader will say)."""
    if detected.kind == "mt942":
        if source_format == "mt940":
            return f"This looks like MT942: {MT942_ADVICE}."
        return f"This looks like {detected.label}; {source_name} expects {_expects(source_format)}."
    if detected.kind == "camt052" and source_format == "camt053":
        return f"This looks like camt.052: {CAMT052_ADVICE}."
    if not detected.known or detected.kind == source_format:
        return None
    if detected.kind == "xml" and source_format == "camt053":
        return None  # the reader names its root element
    return f"This looks like {detected.label}; {source_name} expects {_expects(source_format)}."


def _expects(source_format: str) -> str:
    return FORMAT_LABELS.get(source_format, source_format)
