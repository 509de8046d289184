"""The language of rules written without code: an expression over windowed aggregates.

A rule is one boolean expression, e.g.

    distinct_counterparties(days=60, direction="in") >= 8
        and sum(days=60, direction="in") >= 3 * peer_median(sum(days=60, direction="in"))

It is read with Python's `ast` parser (mode "eval") and checked against a whitelist of
nodes: numbers, `and` / `or` / `not`, comparisons, `+ - * /`, and calls of the functions
below with keyword arguments whose values are numbers or one of a few words. Nothing is
ever evaluated in Python; `aml.engines.expression_rules` compiles the checked tree to SQL.

Aggregates over a window ending at the transaction being judged (`days=N` up to 365, or
`hours=N` up to 8 760), per account (default) or per customer (`per="customer"`), with
filters `direction` (in | out | any), `channel` (card | sepa | swift | cash | crypto),
`country_risk` (medium | high: the counterparty's country at least that risky),
`min_amount` / `max_amount` (EUR, one transaction) and `counterparty="same"` (only
transactions with the judged transaction's counterparty):

- `count(...)`, `sum(...)` (EUR), `distinct_counterparties(...)`,
  `distinct_countries(...)`, `distinct_channels(...)`;
- `amount(...)`: the judged transaction's amount in EUR (0 when it fails the filters);
- `baseline(<aggregate>, days=N)`: the same aggregate over the N days before its window,
  scaled to the window's length: the customer's (or account's) own average;
- `peer_median(<aggregate>)`: the median of the same aggregate over the accounts (or
  customers) of the customer's segment active in the window ending at the start of the day.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from decimal import Decimal

MAX_LENGTH = 500
MAX_DAYS = 365
MAX_HOURS = MAX_DAYS * 24
MAX_AGGREGATES = 12
TIMES = "\u00d7"

AGGREGATES = ("count", "sum", "distinct_counterparties", "distinct_countries", "distinct_channels")
FUNCTIONS = (*AGGREGATES, "amount", "baseline", "peer_median")
DIRECTIONS = ("in", "out", "any")
CHANNELS = ("card", "sepa", "swift", "cash", "crypto")
COUNTRY_RISKS = ("medium", "high")
SCOPES = ("account", "customer")
COMPARISONS: dict[type[ast.cmpop], str] = {
    ast.GtE: ">=",
    ast.Gt: ">",
    ast.LtE: "<=",
    ast.Lt: "<",
    ast.Eq: "=",
    ast.NotEq: "<>",
}
ARITHMETIC: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
}


class RuleSyntaxError(ValueError):
    """An expression a risk manager wrote that is not a rule; the message says where and why."""


# ----------------------------------------------------------------------------- the tree
@dataclass(frozen=True)
class Filters:
    direction: str = "any"
    channel: str | None = None
    country_risk: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    same_counterparty: bool = False


@dataclass(frozen=True)
class Aggregate:
    """`count(days=60, direction="in")`: one aggregate over one window."""

    func: str
    seconds: int  # window length
    unit: str  # days | hours (as written, for words)
    length: int
    per: str
    filters: Filters


@dataclass(frozen=True)
class Amount:
    filters: Filters


@dataclass(frozen=True)
class Baseline:
    of: Aggregate
    days: int


@dataclass(frozen=True)
class PeerMedian:
    of: Aggregate


@dataclass(frozen=True)
class Number:
    value: Decimal


@dataclass(frozen=True)
class Arith:
    op: str
    left: Value
    right: Value


@dataclass(frozen=True)
class Compare:
    op: str
    left: Value
    right: Value


@dataclass(frozen=True)
class Logic:
    op: str  # and | or
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    part: Condition


Term = Aggregate | Amount | Baseline | PeerMedian
Value = Term | Number | Arith
Condition = Compare | Logic | Not


@dataclass(frozen=True)
class Rule:
    source: str
    condition: Condition
    terms: tuple[Term, ...]  # every distinct term, in order of first appearance

    @property
    def per_transaction(self) -> bool:
        """Whether the judged transaction itself matters (else the latest one per scope will do)."""
        return any(
            isinstance(t, Amount)
            or (isinstance(t, Aggregate) and t.filters.same_counterparty)
            or (isinstance(t, Baseline | PeerMedian) and t.of.filters.same_counterparty)
            for t in self.terms
        )


# ----------------------------------------------------------------------------- parsing
def _where(node: ast.AST) -> str:
    col = getattr(node, "col_offset", None)
    return f" (at character {col + 1})" if isinstance(col, int) else ""


def _fail(node: ast.AST, message: str) -> RuleSyntaxError:
    return RuleSyntaxError(message + _where(node))


def _number(node: ast.expr, what: str) -> Decimal:
    negative = False
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        negative, node = True, node.operand
    if (
        not isinstance(node, ast.Constant)
        or isinstance(node.value, bool)
        or not isinstance(node.value, int | float)
    ):
        raise _fail(node, f"{what} must be a number")
    value = Decimal(str(node.value))
    return -value if negative else value


def _whole(node: ast.expr, what: str, lo: int, hi: int) -> int:
    value = _number(node, what)
    if value != value.to_integral_value() or not lo <= value <= hi:
        raise _fail(node, f"{what} must be a whole number from {lo} to {hi}")
    return int(value)


def _word(node: ast.expr, what: str, choices: tuple[str, ...]) -> str:
    if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
        raise _fail(
            node, f"{what} must be one of {', '.join(repr(c) for c in choices)} (in quotes)"
        )
    if node.value not in choices:
        raise _fail(
            node,
            f"{what} {node.value!r} is not known; use one of {', '.join(repr(c) for c in choices)}",
        )
    return node.value


class _Parser:
    def __init__(self) -> None:
        self.terms: list[Term] = []

    def _term(self, term: Term) -> Term:
        if term not in self.terms:
            if len(self.terms) >= MAX_AGGREGATES:
                raise RuleSyntaxError(
                    f"a rule may use at most {MAX_AGGREGATES} different aggregates"
                )
            self.terms.append(term)
        return term

    def condition(self, node: ast.expr) -> Condition:
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            return Logic(op, tuple(self.condition(v) for v in node.values))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return Not(self.condition(node.operand))
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1:
                raise _fail(node, "compare two things at a time; join comparisons with 'and'")
            compare = COMPARISONS.get(type(node.ops[0]))
            if compare is None:
                raise _fail(node, "use one of >=, >, <=, <, ==, != to compare")
            return Compare(compare, self.value(node.left), self.value(node.comparators[0]))
        raise _fail(
            node,
            "expected a comparison such as count(days=30) >= 10 (join several with 'and' / 'or')",
        )

    def value(self, node: ast.expr) -> Value:
        if isinstance(node, ast.Constant) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
        ):
            return Number(_number(node, "a value"))
        if isinstance(node, ast.BinOp):
            op = ARITHMETIC.get(type(node.op))
            if op is None:
                raise _fail(node, "only + - * / may combine values")
            return Arith(op, self.value(node.left), self.value(node.right))
        if isinstance(node, ast.Call):
            return self._term(self.call(node))
        if isinstance(node, ast.Name):
            if node.id in FUNCTIONS:
                raise _fail(node, f"{node.id} needs brackets, e.g. {node.id}(days=30)")
            raise _fail(node, f"unknown name {node.id!r}; use one of {', '.join(FUNCTIONS)}")
        if isinstance(node, ast.Compare | ast.BoolOp):
            raise _fail(node, "a comparison cannot be used as a number")
        raise _fail(node, "not allowed in a rule")

    def call(self, node: ast.Call) -> Term:
        if not isinstance(node.func, ast.Name):
            raise _fail(node, "only the rule functions may be called")
        name = node.func.id
        if name not in FUNCTIONS:
            raise _fail(node, f"unknown function {name!r}; use one of {', '.join(FUNCTIONS)}")
        kwargs: dict[str, ast.expr] = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise _fail(node, f"{name}: write each setting as name=value")
            kwargs[kw.arg] = kw.value
        if name in ("baseline", "peer_median"):
            if len(node.args) != 1:
                raise _fail(node, f"{name} takes one aggregate, e.g. {name}(sum(days=30))")
            inner = self.call(node.args[0]) if isinstance(node.args[0], ast.Call) else None
            if not isinstance(inner, Aggregate):
                raise _fail(node, f"{name} takes one aggregate, e.g. {name}(sum(days=30))")
            if name == "peer_median":
                if kwargs:
                    raise _fail(node, "peer_median takes no settings")
                return PeerMedian(inner)
            unknown = set(kwargs) - {"days"}
            if unknown or "days" not in kwargs:
                raise _fail(
                    node, "baseline needs days=N (the period before the window), nothing else"
                )
            days = _whole(kwargs["days"], "baseline days", 1, MAX_DAYS)
            if days * 86_400 < inner.seconds:
                raise _fail(node, "the baseline period must be at least as long as the window")
            return Baseline(inner, days)
        if node.args:
            raise _fail(node, f"{name}: write settings as name=value, e.g. {name}(days=30)")
        filters = self.filters(name, kwargs, node)
        if name == "amount":
            return Amount(filters)
        if ("days" in kwargs) == ("hours" in kwargs):
            raise _fail(node, f"{name} needs a window: days=N (up to {MAX_DAYS}) or hours=N")
        if "days" in kwargs:
            length, unit = _whole(kwargs.pop("days"), "days", 1, MAX_DAYS), "days"
            seconds = length * 86_400
        else:
            length, unit = _whole(kwargs.pop("hours"), "hours", 1, MAX_HOURS), "hours"
            seconds = length * 3_600
        per = _word(kwargs.pop("per"), "per", SCOPES) if "per" in kwargs else "account"
        return Aggregate(name, seconds, unit, length, per, filters)

    def filters(self, name: str, kwargs: dict[str, ast.expr], node: ast.Call) -> Filters:
        allowed = {
            "direction",
            "channel",
            "country_risk",
            "min_amount",
            "max_amount",
            "counterparty",
        }
        if name != "amount":
            allowed |= {"days", "hours", "per"}
        for key in kwargs:
            if key not in allowed:
                raise _fail(
                    node, f"{name} has no setting {key!r}; use {', '.join(sorted(allowed))}"
                )
        if name == "amount" and "counterparty" in kwargs:
            raise _fail(node, "amount has no setting 'counterparty'")
        lo = _number(kwargs["min_amount"], "min_amount") if "min_amount" in kwargs else None
        hi = _number(kwargs["max_amount"], "max_amount") if "max_amount" in kwargs else None
        if (lo is not None and lo < 0) or (hi is not None and hi < 0):
            raise _fail(node, "amounts cannot be negative")
        if lo is not None and hi is not None and lo > hi:
            raise _fail(node, "min_amount must not exceed max_amount")
        return Filters(
            direction=_word(kwargs["direction"], "direction", DIRECTIONS)
            if "direction" in kwargs
            else "any",
            channel=_word(kwargs["channel"], "channel", CHANNELS) if "channel" in kwargs else None,
            country_risk=_word(kwargs["country_risk"], "country_risk", COUNTRY_RISKS)
            if "country_risk" in kwargs
            else None,
            min_amount=lo,
            max_amount=hi,
            same_counterparty=_word(kwargs["counterparty"], "counterparty", ("same",)) == "same"
            if "counterparty" in kwargs
            else False,
        )


def parse_rule(source: str) -> Rule:
    """The checked tree of an expression, or a `RuleSyntaxError` a risk manager can act on."""
    text = " ".join(source.split())
    if not text:
        raise RuleSyntaxError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise RuleSyntaxError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        where = f" at character {exc.offset}" if exc.offset else ""
        raise RuleSyntaxError(f"not a well-formed expression{where}: {exc.msg}") from None
    parser = _Parser()
    condition = parser.condition(tree.body)
    if not parser.terms:
        raise RuleSyntaxError("the rule compares no aggregate, e.g. count(days=30) >= 10")
    return Rule(source=text, condition=condition, terms=tuple(parser.terms))


# ----------------------------------------------------------------------------- words
def _num(value: Decimal) -> str:
    if value == value.to_integral_value():
        return f"{value:,.0f}".replace(",", " ")
    return f"{value.normalize():f}"


def _window(a: Aggregate) -> str:
    unit = a.unit if a.length != 1 else a.unit.rstrip("s")
    return f"{a.length} {unit}"


def filter_words(f: Filters) -> str:
    parts = []
    if f.channel:
        parts.append(f"{f.channel}")
    if f.country_risk:
        parts.append(
            f"with {f.country_risk}-risk countries{' or worse' if f.country_risk == 'medium' else ''}"
        )
    if f.min_amount is not None:
        parts.append(f"of at least {_num(f.min_amount)} EUR each")
    if f.max_amount is not None:
        parts.append(f"of at most {_num(f.max_amount)} EUR each")
    if f.same_counterparty:
        parts.append("with the same counterparty")
    return " ".join(parts)


def term_words(term: Term) -> str:
    """`distinct senders in 60 days`: what a term measures, for a reason or a preview."""
    if isinstance(term, Amount):
        extra = filter_words(term.filters)
        direction = {"in": " received", "out": " sent"}.get(term.filters.direction, "")
        return f"this{direction} transaction's amount{(' (' + extra + ')') if extra else ''}"
    if isinstance(term, Baseline):
        return f"own average of {term_words(term.of)} over the {term.days} days before"
    if isinstance(term, PeerMedian):
        return f"segment median of {term_words(term.of)}"
    a = term
    d = a.filters.direction
    noun = {
        "count": {"in": "payments in", "out": "payments out"}.get(d, "transactions"),
        "sum": {"in": "money in", "out": "money out"}.get(d, "turnover"),
        "distinct_counterparties": {"in": "distinct senders", "out": "distinct payees"}.get(
            d, "distinct counterparties"
        ),
        "distinct_countries": "distinct counterparty countries",
        "distinct_channels": "distinct channels",
    }[a.func]
    if d != "any" and a.func in ("distinct_countries", "distinct_channels"):
        noun += f" ({'incoming' if d == 'in' else 'outgoing'})"
    extra = filter_words(a.filters)
    scope = " across the customer's accounts" if a.per == "customer" else ""
    return f"{noun}{(' ' + extra) if extra else ''} within {_window(a)}{scope}"


def value_words(value: Value) -> str:
    if isinstance(value, Number):
        return _num(value.value)
    if isinstance(value, Arith):
        return (
            f"{value_words(value.left)} {value.op.replace('*', TIMES)} {value_words(value.right)}"
        )
    return term_words(value)


OP_WORDS = {
    ">=": "at least",
    ">": "more than",
    "<=": "at most",
    "<": "less than",
    "=": "exactly",
    "<>": "not",
}


def condition_words(c: Condition) -> str:
    """The rule in words: a preview of its compiled meaning for the person writing it."""
    if isinstance(c, Logic):
        joined = f" {c.op} ".join(
            f"({condition_words(p)})" if isinstance(p, Logic) else condition_words(p)
            for p in c.parts
        )
        return joined
    if isinstance(c, Not):
        return f"not ({condition_words(c.part)})"
    return f"{value_words(c.left)} is {OP_WORDS[c.op]} {value_words(c.right)}"


def explain(source: str) -> str:
    """`Raises an alert when …`: the meaning of an expression, or why it is not a rule."""
    rule = parse_rule(source)
    return f"Raises an alert when {condition_words(rule.condition)}."
