"""ISO 20022 camt.053 (bank-to-customer statement), read as a stream with lxml.

One <Stmt> is one section and one booked <Ntry> one line. A batch booking (several <TxDtls>
under one entry) stays one line with the entry's amount: that is what the bank booked and
what the balances add up to. Elements are cleared as soon as they are read, so memory stays
flat however long the file is; entities are never expanded and nothing is fetched.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from lxml import etree

from reconciliation.engines.lines import StatementLine, StatementRefused, StatementSection
from reconciliation.engines.parsing.common import (
    NO_CURRENCY,
    NUL_REASON,
    ZERO,
    check_decimals,
    line_at,
)

ISO_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:"
_CAMT053 = re.compile(r"camt\.053\.001\.(\d{2})")
SUPPORTED_VERSIONS = range(2, 14)  # camt.053.001.02 .. camt.053.001.13

# What people upload by mistake, said in their words.
_OTHER_MESSAGES = {
    "camt.052": "camt.052 is an intraday report, not a statement (camt.053)",
    "camt.054": "camt.054 is a debit/credit notification, not a statement (camt.053)",
    "camt.060": "camt.060 is a request for a statement, not a statement (camt.053)",
    "pain.001": "pain.001 is a payment order, not a statement (camt.053)",
    "pain.002": "pain.002 is a payment status report, not a statement (camt.053)",
    "pain.008": "pain.008 is a direct debit order, not a statement (camt.053)",
}

# A NUL written as a byte or as a character reference (&#0; &#x0;): XML 1.0 allows neither.
_NUL = re.compile(rb"\x00|&#0+;|&#[xX]0+;")
_WIDE_ENCODING = (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")  # UTF-16/32: NULs are normal
_TAG = re.compile(rb"<(/?)(?:[\w.-]+:)?([\w.-]+)[^<>]*?(/?)>")

_AMOUNT = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_OPENING = ("OPBD", "PRCD")  # opening booked; previously closed booked (its equal)
_CLOSING = ("CLBD",)
_NOT_BOOKED = {"PDNG", "INFO", "FUTR"}  # pending or informative: not in the balances
_NOT_PROVIDED = "NOTPROVIDED"


def message_problem(namespace: str) -> str | None:
    """Why a document with this namespace is not a statement we read; None when it is."""
    if not namespace.startswith(ISO_NAMESPACE):
        return None if not namespace else f"'{namespace}' is not an ISO 20022 message"
    message = namespace.removeprefix(ISO_NAMESPACE)
    if match := _CAMT053.fullmatch(message):
        version = int(match.group(1))
        if version in SUPPORTED_VERSIONS:
            return None
        return (
            f"camt.053 version {message.removeprefix('camt.053.')} is not one we read "
            f"(versions 001.02 to 001.13)"
        )
    kind = ".".join(message.split(".")[:2])
    return _OTHER_MESSAGES.get(
        kind, f"{message} is an ISO 20022 message of another kind, not a statement (camt.053)"
    )


def read_camt053(data: bytes) -> Iterator[StatementLine | StatementSection]:
    """Yield each booked entry as a line and each statement as a section after its lines."""
    _refuse_nul(data)
    context = etree.iterparse(
        io.BytesIO(data),
        events=("start", "end"),
        tag=("{*}GrpHdr", "{*}Stmt", "{*}Ntry"),
        resolve_entities=False,
        no_network=True,
        huge_tree=True,
        remove_comments=True,
        remove_pis=True,
    )
    names: _Names | None = None
    statement: _Statement | None = None
    statements = 0
    line_no = 0
    try:
        for event, element in context:
            if names is None:
                names = _Names.of_message(element)
            local = names.local(element.tag)
            if local == "Ntry":
                if statement is None:
                    continue  # an entry outside any statement: not ours to read
                if event == "start":
                    statement.read_header()
                    continue
                line = statement.entry(element, line_no + 1)
                _forget(element)
                if line is not None:
                    line_no += 1
                    yield line
            elif local == "Stmt":
                if event == "start":
                    statement = _Statement(element, names, statements)
                    continue
                if statement is not None:
                    statement.read_header()
                    yield statement.section()
                statements += 1
                statement = None
                _forget(element)
            elif event == "end":
                _forget(element)  # GrpHdr: nothing in it we need
    except etree.XMLSyntaxError as exc:
        broken_at = exc.lineno or (exc.position[0] if exc.position else 1)
        raise StatementRefused(
            f"line {broken_at}", f"the XML is broken: {exc.msg or 'not well-formed'}"
        ) from None
    if names is None and context.root is not None:
        _Names.of_message(context.root)  # refuses what is not ISO 20022, or another message
    if statements == 0:
        raise StatementRefused("line 1", "no <Stmt> in the document: this is not a bank statement")


def _refuse_nul(data: bytes) -> None:
    """A NUL is refused naming its line, its element, and its entry and statement."""
    if data.startswith(_WIDE_ENCODING) or (b"\x00" not in data and b"&#" not in data):
        return
    found = _NUL.search(data)
    if found is None:
        return
    raise StatementRefused(_place(data, found.start()), NUL_REASON)


def _place(data: bytes, position: int) -> str:
    """ "line 31, element <Ustrd> of entry 2 of statement 1" for a position in the file."""
    open_elements: list[str] = []
    statements = entries = 0
    for tag in _TAG.finditer(data, 0, position):
        closing, name, empty = tag.group(1), tag.group(2).decode("ascii", "replace"), tag.group(3)
        if closing:
            while open_elements and open_elements.pop() != name:
                pass
            continue
        if name == "Stmt":
            statements, entries = statements + 1, 0
        elif name == "Ntry":
            entries += 1
        if not empty:
            open_elements.append(name)
    where = f"line {line_at(data, position)}"
    if open_elements:
        where += f", element <{open_elements[-1]}>"
    if "Ntry" in open_elements:
        where += f" of entry {entries}"
    if "Stmt" in open_elements:
        where += f" of statement {statements}"
    return where


class _Names:
    """The document's namespace, checked once, and each tag's local name (memoised)."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self.local_of = _LocalNames(f"{{{namespace}}}")

    @classmethod
    def of_message(cls, element: etree._Element) -> _Names:
        """The namespace of the message `element` is part of, once it is one we read.

        Taken from the message's own elements rather than the root, so that a statement in
        an envelope (a business application header around the <Document>) reads too.
        """
        namespace = etree.QName(element).namespace or ""
        where = f"line {element.sourceline or 1}"
        if not namespace.startswith(ISO_NAMESPACE):
            root = etree.QName(element.getroottree().getroot()).localname
            raise StatementRefused(
                where,
                f"this XML is not an ISO 20022 document (its root element is <{root}>): "
                "this is not a bank statement",
            )
        if problem := message_problem(namespace):
            raise StatementRefused(where, problem)
        return cls(namespace)

    def local(self, tag: object) -> str:
        return self.local_of[tag]


class _LocalNames(dict[object, str]):
    """'{ns}Amt' -> 'Amt'; anything outside the namespace (or not an element) -> ''."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def __missing__(self, tag: object) -> str:
        local = (
            tag[len(self.prefix) :] if isinstance(tag, str) and tag.startswith(self.prefix) else ""
        )
        self[tag] = local
        return local


class _Statement:
    """One <Stmt>: its header (read once its entries start) and its running totals."""

    def __init__(self, element: etree._Element, names: _Names, index: int):
        self.element = element
        self.names = names
        self.index = index
        self.number = index + 1
        self.location = f"line {element.sourceline}, statement {self.number}"
        self.header_read = False
        self.statement_id: str | None = None
        self.account: str | None = None
        self.currency: str | None = None
        self.opening: tuple[Decimal, date | None, str | None] | None = None
        self.closing: tuple[Decimal, date | None, str | None] | None = None
        self.period_from: date | None = None
        self.period_to: date | None = None
        self.entries_seen = 0  # every <Ntry>, booked or not: how people count them
        self.entries = 0
        self.entries_sum = ZERO
        self.entry_currencies: dict[str, int] = {}  # how many booked entries in each

    def where(self, element: etree._Element, what: str) -> str:
        return f"line {element.sourceline}, {what} of statement {self.number}"

    # The header: everything before the first entry (Id, Acct, Bal, FrToDt).

    def read_header(self) -> None:
        if self.header_read:
            return
        self.header_read = True
        kids = _kids(self.element, self.names)
        self.statement_id = _text(kids.get("Id"))
        if (acct := kids.get("Acct")) is not None:
            acct_kids = _kids(acct, self.names)
            self.account = _account_id(acct_kids.get("Id"), self.names)
            self.currency = _text(acct_kids.get("Ccy"))
        if (period := kids.get("FrToDt")) is not None:
            period_kids = _kids(period, self.names)
            self.period_from = self._date(_first(period_kids, "FrDtTm", "FrDt"))
            self.period_to = self._date(_first(period_kids, "ToDtTm", "ToDt"))
        for child in self.element:
            if self.names.local(child.tag) == "Bal":
                self._balance(child)

    def _balance(self, element: etree._Element) -> None:
        kids = _kids(element, self.names)
        code = _text(_path(kids.get("Tp"), self.names, "CdOrPrtry", "Cd"))
        if code not in _OPENING and code not in _CLOSING:
            return  # available, interim and forward balances say nothing about entries
        what = f"the {code} balance"
        amount_element = kids.get("Amt")
        if amount_element is None:
            raise StatementRefused(self.where(element, what), "the balance has no <Amt>")
        amount = _amount(amount_element, self.where(amount_element, f"element <Amt> of {what}"))
        indicator = _text(kids.get("CdtDbtInd"))
        if indicator == "DBIT":
            amount = -amount
        elif indicator != "CRDT":
            raise StatementRefused(
                self.where(element, f"element <CdtDbtInd> of {what}"),
                f"'{indicator or ''}' is neither CRDT (credit) nor DBIT (debit)",
            )
        on = None
        if "Dt" in kids:
            on = self._date(_first(_kids(kids["Dt"], self.names), "Dt", "DtTm"))
        balance = (amount, on, amount_element.get("Ccy"))
        if code in _CLOSING:
            self.closing = self.closing or balance
        elif self.opening is None or code == "OPBD":
            self.opening = balance

    def _date(self, element: etree._Element | None) -> date | None:
        if element is None:
            return None
        return _date(element, self.where(element, f"element <{self.names.local(element.tag)}>"))

    # Entries.

    def entry(self, element: etree._Element, line_no: int) -> StatementLine | None:
        """The entry as a line, or None when it is not booked (pending, information only)."""
        self.entries_seen += 1
        what = f"entry {self.entries_seen}"
        names = self.names
        kids = _kids(element, names)
        status = kids.get("Sts")
        if status is not None:
            code = _text(status) or _text(_kids(status, names).get("Cd"))
            if code in _NOT_BOOKED:
                return None
        amount_element = kids.get("Amt")
        if amount_element is None:
            raise StatementRefused(self.where(element, what), "the entry has no <Amt>")
        amount = _amount(amount_element, self.where(amount_element, f"element <Amt> of {what}"))
        indicator = _text(kids.get("CdtDbtInd"))
        if indicator not in ("CRDT", "DBIT"):
            where = kids.get("CdtDbtInd", element)
            raise StatementRefused(
                self.where(where, f"element <CdtDbtInd> of {what}"),
                f"'{indicator or ''}' is neither CRDT (credit) nor DBIT (debit)",
            )
        credit = indicator == "CRDT"
        # ISO 20022's usage rule: CdtDbtInd is the direction of this booking, and RvslInd only
        # says that it undoes an earlier one (CRDT + RvslInd gives back an earlier debit). So a
        # reversal keeps the sign of its CdtDbtInd, and the balances still add up.
        reversal = (_text(kids.get("RvslInd")) or "").lower() in ("true", "1")
        signed = amount if credit else -amount
        booked = self._entry_date(kids.get("BookgDt"), what)
        value_date = self._entry_date(kids.get("ValDt"), what)
        if booked is None:
            booked = value_date
        if booked is None:
            raise StatementRefused(
                self.where(element, what), "the entry has neither <BookgDt> nor <ValDt>"
            )
        details = _Details.of(element, names)
        # The counterparty is the other side of the original payment: the debtor of a credit,
        # the creditor of a debit (and the other way round for a reversal).
        counterparty = details.party("Dbtr" if credit != reversal else "Cdtr")
        currency = amount_element.get("Ccy") or self.currency or NO_CURRENCY
        self.entry_currencies[currency] = self.entry_currencies.get(currency, 0) + 1
        self.entries += 1
        self.entries_sum += signed
        return StatementLine(
            line_no=line_no,
            section=self.index,
            booked_on=booked,
            value_date=value_date,
            amount=signed,
            currency=currency,
            reference=details.reference(),
            bank_reference=_text(kids.get("AcctSvcrRef")),
            counterparty_name=counterparty[0],
            counterparty_account=counterparty[1],
            description=details.description(_text(kids.get("AddtlNtryInf"))),
            location=self.where(element, what),
        )

    def _entry_date(self, element: etree._Element | None, what: str) -> date | None:
        if element is None:
            return None
        inner = _first(_kids(element, self.names), "Dt", "DtTm")
        if inner is None:
            return None
        local = self.names.local(element.tag)
        return _date(inner, self.where(inner, f"element <{local}> of {what}"))

    def section(self) -> StatementSection:
        opening = self.opening or (None, None, None)
        closing = self.closing or (None, None, None)
        # The account's currency; else the one its entries are booked in (a balance may be
        # in another, e.g. an available balance in CHF on a EUR account); else a balance's.
        entries_currency = max(
            self.entry_currencies, key=self.entry_currencies.__getitem__, default=None
        )
        currency = self.currency or entries_currency or opening[2] or closing[2] or NO_CURRENCY
        return StatementSection(
            index=self.index,
            statement_id=self.statement_id,
            account=self.account,
            currency=currency,
            opening_balance=opening[0],
            opening_date=opening[1],
            closing_balance=closing[0],
            closing_date=closing[1],
            period_from=self.period_from,
            period_to=self.period_to,
            entries=self.entries,
            entries_sum=self.entries_sum,
            location=self.location,
        )


class _Details:
    """An entry's <NtryDtls>: its batch header and transaction details."""

    def __init__(
        self,
        names: _Names,
        batch: dict[str, etree._Element],
        transactions: list[dict[str, etree._Element]],
    ):
        self.names = names
        self.batch = batch
        self.transactions = transactions

    @classmethod
    def of(cls, entry: etree._Element, names: _Names) -> _Details:
        batch: dict[str, etree._Element] = {}
        transactions: list[dict[str, etree._Element]] = []
        for block in entry:  # NtryDtls may repeat
            if names.local(block.tag) != "NtryDtls":
                continue
            for child in block:
                local = names.local(child.tag)
                if local == "TxDtls":
                    transactions.append(_kids(child, names))
                elif local == "Btch" and not batch:
                    batch = _kids(child, names)
        return cls(names, batch, transactions)

    @property
    def single(self) -> dict[str, etree._Element] | None:
        return self.transactions[0] if len(self.transactions) == 1 else None

    def reference(self) -> str | None:
        names = self.names
        single = self.single
        first = self.transactions[0] if self.transactions else {}
        refs = _kids(first["Refs"], names) if "Refs" in first else {}
        if single is not None:
            end_to_end = _text(refs.get("EndToEndId"))
            if end_to_end and end_to_end.upper() != _NOT_PROVIDED:
                return end_to_end
        for candidate in (
            _text(self.batch.get("PmtInfId")),
            _text(refs.get("PmtInfId")),
            _text(refs.get("MsgId")),
            _text(refs.get("InstrId")) if single is not None else None,
        ):
            if candidate and candidate.upper() != _NOT_PROVIDED:
                return candidate
        if single is not None:
            # Last resort: the structured creditor reference (RF... or a national one), which
            # invoices carry when the payer's software sends no end-to-end id.
            return _text(_path(single.get("RmtInf"), names, "Strd", "CdtrRefInf", "Ref"))
        return None

    def party(self, role: str) -> tuple[str | None, str | None]:
        single = self.single
        if single is None or "RltdPties" not in single:
            return None, None
        parties = _kids(single["RltdPties"], self.names)
        party = parties.get(role)
        name = None
        if party is not None:
            party_kids = _kids(party, self.names)
            if "Pty" in party_kids:  # camt.053.001.08 and later wrap the party
                party_kids = _kids(party_kids["Pty"], self.names)
            name = _text(party_kids.get("Nm"))
        account = parties.get(f"{role}Acct")
        account_id = None
        if account is not None:
            account_id = _account_id(_kids(account, self.names).get("Id"), self.names)
        return name, account_id

    def description(self, additional: str | None) -> str | None:
        single = self.single
        if single is not None and "RmtInf" in single:
            unstructured = [
                text
                for child in single["RmtInf"]
                if self.names.local(child.tag) == "Ustrd" and (text := _text(child))
            ]
            if unstructured:
                return " ".join(unstructured)
        if additional:
            return additional
        if len(self.transactions) > 1:
            return f"Batch of {len(self.transactions)} transactions"
        return None


def _kids(element: etree._Element, names: _Names) -> dict[str, etree._Element]:
    """Child elements by local name: the first of each, as the schema has one of most.

    This runs a dozen times per entry, so it is one comprehension over a memo of tag names
    (walked backwards, so that the first of a repeated element is the one kept).
    """
    local_of = names.local_of
    return {local_of[child.tag]: child for child in reversed(element)}


def _path(element: etree._Element | None, names: _Names, *steps: str) -> etree._Element | None:
    for step in steps:
        if element is None:
            return None
        element = _kids(element, names).get(step)
    return element


def _first(kids: dict[str, etree._Element], *locals_: str) -> etree._Element | None:
    for local in locals_:
        if local in kids:
            return kids[local]
    return None


def _text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _account_id(element: etree._Element | None, names: _Names) -> str | None:
    """Acct/Id: the IBAN, or the bank's own account number (Othr/Id)."""
    if element is None:
        return None
    kids = _kids(element, names)
    return _text(kids.get("IBAN")) or _text(_path(kids.get("Othr"), names, "Id"))


def _amount(element: etree._Element, location: str) -> Decimal:
    written = (element.text or "").strip()
    if not _AMOUNT.fullmatch(written):
        raise StatementRefused(location, f"'{written}' is not an amount")
    return check_decimals(Decimal(written), written, location)


def _date(element: etree._Element, location: str) -> date:
    """A date, or the date part of a date-time as the bank wrote it (its local day)."""
    written = (element.text or "").strip()
    try:
        return date.fromisoformat(written[:10])
    except ValueError:
        raise StatementRefused(location, f"'{written}' is not a date") from None


def _forget(element: etree._Element) -> None:
    """Drop what has been read, so the tree never holds more than the current entry."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]
