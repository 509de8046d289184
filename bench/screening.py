"""Sanctions screening: our matcher against brute-force rapidfuzz over the whole list.

A labelled query set is generated from the list itself with a seeded RNG:
  positives — listed names and strong aliases written differently: case, token order,
              dropped middle names, a typo, a transliteration variant, accents, punctuation;
  negatives — names that must not match: a listed person's given name with an unrelated
              family name, and plausible random person and company names (any whose
              canonical tokens all appear in one listed name are left out: they would be
              true matches, not negatives).
A query counts as a true positive when its entry is among the hits; a wrong entry hit (on a
positive or a negative) is a false positive. The baseline is `fuzz.token_sort_ratio` over
every listed name and alias, at the threshold that suits it best on this very set.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process, utils

from screening.engines.entries import ParsedEntry
from screening.engines.matcher import ScreeningIndex
from screening.engines.normalize import _VARIANT_GROUPS, tokens
from screening.engines.ofac import parse_file

FIRST_NAMES = [
    "james",
    "mary",
    "robert",
    "patricia",
    "john",
    "jennifer",
    "michael",
    "linda",
    "david",
    "elizabeth",
    "william",
    "barbara",
    "richard",
    "susan",
    "joseph",
    "jessica",
    "thomas",
    "sarah",
    "charles",
    "karen",
    "daniel",
    "lisa",
    "matthew",
    "nancy",
    "anthony",
    "betty",
    "mark",
    "sandra",
    "donald",
    "ashley",
    "steven",
    "kimberly",
    "paul",
    "emily",
    "andrew",
    "donna",
    "joshua",
    "michelle",
    "kenneth",
    "carol",
    "kevin",
    "amanda",
    "brian",
    "melissa",
    "george",
    "deborah",
    "timothy",
    "stephanie",
    "ronald",
    "laura",
    "jason",
    "rebecca",
    "edward",
    "sharon",
    "jeffrey",
    "cynthia",
    "ryan",
    "kathleen",
    "jacob",
    "amy",
    "gary",
    "angela",
    "nicholas",
    "shirley",
    "eric",
    "anna",
    "jonathan",
    "brenda",
    "stephen",
    "pamela",
    "larry",
    "emma",
    "justin",
    "nicole",
    "scott",
    "helen",
    "brandon",
    "samantha",
    "benjamin",
    "katherine",
    "samuel",
    "christine",
    "gregory",
    "debra",
    "alexander",
    "rachel",
    "patrick",
    "carolyn",
    "frank",
    "janet",
    "raymond",
    "maria",
    "jack",
    "olivia",
    "dennis",
    "heather",
    "jerry",
    "diane",
    "tyler",
    "ruth",
    "aaron",
    "julie",
    "hans",
    "klaus",
    "jurgen",
    "sabine",
    "ulrike",
    "pierre",
    "amelie",
    "camille",
    "luca",
    "giulia",
    "marco",
    "sofia",
    "pablo",
    "lucia",
    "javier",
    "carmen",
    "piotr",
    "agnieszka",
    "jan",
    "anna",
    "lars",
    "ingrid",
    "sven",
    "mette",
    "kenji",
    "yuki",
    "wei",
    "li",
    "priya",
    "rahul",
    "ananya",
    "arjun",
    "fatima",
    "aisha",
    "omar",
    "layla",
    "yusuf",
    "zainab",
    "hamza",
    "mariam",
]
SURNAMES = [
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "hernandez",
    "lopez",
    "gonzalez",
    "wilson",
    "anderson",
    "thomas",
    "taylor",
    "moore",
    "jackson",
    "martin",
    "lee",
    "perez",
    "thompson",
    "white",
    "harris",
    "sanchez",
    "clark",
    "ramirez",
    "lewis",
    "robinson",
    "walker",
    "young",
    "allen",
    "king",
    "wright",
    "scott",
    "torres",
    "nguyen",
    "hill",
    "flores",
    "green",
    "adams",
    "nelson",
    "baker",
    "hall",
    "rivera",
    "campbell",
    "mitchell",
    "carter",
    "roberts",
    "mueller",
    "schmidt",
    "schneider",
    "fischer",
    "weber",
    "meyer",
    "wagner",
    "becker",
    "schulz",
    "hoffmann",
    "dubois",
    "durand",
    "lefebvre",
    "moreau",
    "laurent",
    "rossi",
    "russo",
    "ferrari",
    "esposito",
    "bianchi",
    "romano",
    "colombo",
    "fernandez",
    "gomez",
    "diaz",
    "moreno",
    "alvarez",
    "romero",
    "nowak",
    "kowalski",
    "wisniewski",
    "johansson",
    "andersson",
    "nilsson",
    "hansen",
    "jensen",
    "nielsen",
    "tanaka",
    "suzuki",
    "takahashi",
    "watanabe",
    "chen",
    "wang",
    "zhang",
    "liu",
    "yang",
    "sharma",
    "patel",
    "singh",
    "kumar",
    "gupta",
    "okafor",
    "mensah",
    "novak",
    "horvat",
    "kovacs",
    "varga",
    "papadopoulos",
    "ozturk",
    "yilmaz",
    "kaya",
    "demir",
    "sahin",
    "celik",
    "murphy",
    "kelly",
    "sullivan",
    "walsh",
    "byrne",
    "ryan",
    "oconnor",
]
COMPANY_WORDS = [
    "northern",
    "southern",
    "eastern",
    "western",
    "blue",
    "green",
    "silver",
    "golden",
    "star",
    "river",
    "lake",
    "mountain",
    "harbor",
    "bridge",
    "summit",
    "pioneer",
    "horizon",
    "atlas",
    "vertex",
    "quantum",
    "nova",
    "apex",
    "crest",
    "maple",
    "cedar",
    "oak",
    "pine",
    "falcon",
    "eagle",
    "lion",
    "tiger",
    "orchid",
    "lotus",
    "sunrise",
    "sunset",
    "coastal",
    "alpine",
    "urban",
    "rural",
    "prime",
    "first",
    "united",
    "central",
    "pacific",
    "atlantic",
    "nordic",
    "baltic",
    "iberian",
    "delta",
    "sigma",
    "omega",
    "bright",
    "clear",
    "swift",
    "true",
    "bold",
]
COMPANY_KINDS = [
    "trading",
    "logistics",
    "holdings",
    "capital",
    "partners",
    "foods",
    "textiles",
    "software",
    "electronics",
    "pharma",
    "motors",
    "shipping",
    "consulting",
    "analytics",
    "foods",
    "farms",
    "media",
    "studios",
    "labs",
    "ventures",
    "energy",
    "minerals",
    "metals",
    "plastics",
    "furniture",
]
LEGAL = ["LLC", "Ltd", "GmbH", "S.A.", "Inc.", "Co.", "JSC", "OOO", "B.V.", "PLC", ""]
ACCENTS = {"a": "á", "e": "é", "i": "í", "o": "ö", "u": "ü", "c": "ç", "n": "ñ"}
ALPHABET = "abcdefghijklmnopqrstuvwxyz"


@dataclass
class Query:
    name: str
    kind: str | None
    target: int | None  # ent_num, or None for a negative
    variant: str


@dataclass
class Quality:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    positives: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    false_hits: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.tp / self.positives if self.positives else 0.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    def add(self, q: Query, target_hit: bool, other_hit: bool) -> None:
        if q.target is not None:
            self.positives += 1
            if target_hit:
                self.tp += 1
                return
            self.fn += 1
            if len(self.misses) < 30:
                self.misses.append(f"{q.variant}: {q.name}")
        if other_hit and not (q.target is not None and target_hit):
            self.fp += 1
            if len(self.false_hits) < 30:
                self.false_hits.append(f"{q.variant}: {q.name}")


# ----------------------------------------------------------------------------- query set
_VARIANT_OF: dict[str, list[str]] = {}
for _canon, _variants in _VARIANT_GROUPS.items():
    _group = [_canon, *(v.rstrip("-") for v in _variants.split())]
    for _v in _group:
        _VARIANT_OF[_v] = [x for x in _group if x != _v and "'" not in x]


def _display(entry: ParsedEntry, name: str) -> list[str]:
    """A name's words in the order people write it (given names first)."""
    family, comma, given = name.partition(",")
    if entry.entry_type == "person" and comma and given.strip():
        return given.split() + family.split()
    return name.split()


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice("sdit")
    if op == "s":
        return word[:i] + rng.choice(ALPHABET) + word[i + 1 :]
    if op == "d":
        return word[:i] + word[i + 1 :]
    if op == "i":
        return word[:i] + rng.choice(ALPHABET) + word[i:]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]


def _positive(entry: ParsedEntry, rng: random.Random) -> Query | None:
    strong = [n for n in entry.names if n.strength == "strong"]
    use_alias = len(strong) > 1 and rng.random() < 0.25
    chosen = rng.choice(strong[1:]) if use_alias else strong[0]
    words = _display(entry, chosen.name)
    if not words:
        return None
    variant = rng.choice(
        ["case", "order", "drop_middle", "typo", "transliteration", "accents", "punctuation"]
    )
    if variant == "case":
        words = [w.lower() if rng.random() < 0.5 else w.title() for w in words]
    elif variant == "order":
        rng.shuffle(words)
    elif variant == "drop_middle":
        family, comma, given = chosen.name.partition(",")
        given_words = given.split()
        if entry.entry_type != "person" or not comma or len(given_words) < 2:
            return None
        words = [given_words[0], *family.split()]
    elif variant == "typo":
        long_words = [i for i, w in enumerate(words) if len(w) >= 6]
        if not long_words:
            return None
        i = rng.choice(long_words)
        words[i] = _typo(words[i], rng)
    elif variant == "transliteration":
        options = [i for i, w in enumerate(words) if w.lower().strip(",.") in _VARIANT_OF]
        if not options:
            return None
        i = rng.choice(options)
        words[i] = rng.choice(_VARIANT_OF[words[i].lower().strip(",.")]).title()
    elif variant == "accents":
        words = [
            "".join(ACCENTS.get(c, c) if rng.random() < 0.3 else c for c in w.lower())
            for w in words
        ]
    elif variant == "punctuation":
        sep = rng.choice(["-", ". ", ", ", "  "])
        words = [sep.join(words)]
    kind = "person" if entry.entry_type == "person" else "entity"
    name = " ".join(words).strip(" ,")
    if len(name) < 3:
        return None
    return Query(
        name,
        kind if rng.random() < 0.7 else None,
        entry.ent_num,
        f"{variant}{'+alias' if use_alias else ''}",
    )


def _listed_token_sets(entries: list[ParsedEntry]) -> list[frozenset[str]]:
    out = []
    for e in entries:
        for n in e.names:
            out.append(frozenset(t.canon for t in tokens(n.name) if not t.particle))
    return out


def build_queries(
    entries: list[ParsedEntry], *, positives: int, negatives: int, seed: int = 20240503
) -> list[Query]:
    rng = random.Random(seed)
    queries: list[Query] = []
    pool = [e for e in entries if e.names]
    while len(queries) < positives:
        q = _positive(rng.choice(pool), rng)
        if q is not None:
            queries.append(q)
    listed = _listed_token_sets(entries)
    by_token: dict[str, list[int]] = {}
    for i, s in enumerate(listed):
        for t in s:
            by_token.setdefault(t, []).append(i)
    listed_canons = set(by_token)

    def listed_anywhere(name: str) -> bool:
        canons = {t.canon for t in tokens(name) if not t.particle}
        if not canons:
            return True
        first = min(canons, key=lambda c: len(by_token.get(c, ())))
        return any(canons <= listed[i] for i in by_token.get(first, ()))

    people = [
        e
        for e in entries
        if e.entry_type == "person"
        and "," in e.primary_name
        and e.primary_name.split(",")[1].strip()
    ]
    count = 0
    while count < negatives:
        roll = rng.random()
        if roll < 0.4:
            # A listed person's given name with a family name from nowhere on the list.
            e = rng.choice(people)
            given = e.primary_name.split(",", 1)[1].split()[0]
            surname = rng.choice(SURNAMES)
            if tokens(surname)[0].canon in listed_canons:
                continue
            q = Query(f"{given} {surname.title()}", "person", None, "given+unrelated family")
        elif roll < 0.75:
            name = f"{rng.choice(FIRST_NAMES).title()} {rng.choice(SURNAMES).title()}"
            if listed_anywhere(name):
                continue
            q = Query(name, rng.choice(["person", None]), None, "random person")
        else:
            name = " ".join(
                [
                    rng.choice(COMPANY_WORDS).title(),
                    rng.choice(COMPANY_WORDS).title(),
                    rng.choice(COMPANY_KINDS).title(),
                    rng.choice(LEGAL),
                ]
            ).strip()
            if listed_anywhere(name):
                continue
            q = Query(name, rng.choice(["entity", None]), None, "random company")
        queries.append(q)
        count += 1
    rng.shuffle(queries)
    return queries


# ----------------------------------------------------------------------------- runs
def run_ours(index: ScreeningIndex, queries: list[Query]) -> Quality:
    quality = Quality()
    for q in queries[:50]:  # warm-up: caches of the normaliser
        index.match(q.name, kind=q.kind)  # type: ignore[arg-type]
    for q in queries:
        started = time.perf_counter()
        hits = index.match(q.name, kind=q.kind)  # type: ignore[arg-type]
        quality.latencies_ms.append((time.perf_counter() - started) * 1000)
        found = {h.ent_num for h in hits}
        quality.add(q, q.target in found, bool(found - {q.target}))
    return quality


@dataclass
class Baseline:
    choices: list[str]
    owners: list[int]
    is_person: list[bool]


def baseline_choices(entries: list[ParsedEntry]) -> Baseline:
    choices, owners, person = [], [], []
    for e in entries:
        for n in e.names:
            choices.append(utils.default_process(n.name))
            owners.append(e.ent_num)
            person.append(e.entry_type == "person")
    return Baseline(choices, owners, person)


def run_baseline(base: Baseline, queries: list[Query]) -> tuple[Quality, int]:
    """token_sort_ratio over every name; the threshold that maximises F1 on this set."""
    best_target: list[float] = []
    best_other: list[float] = []
    for q in queries:
        found = process.extract(
            utils.default_process(q.name),
            base.choices,
            scorer=fuzz.token_sort_ratio,
            processor=None,
            limit=50,
            score_cutoff=70,
        )
        t, o = 0.0, 0.0
        for _, score, i in found:
            if q.kind is not None and base.is_person[i] != (q.kind == "person"):
                continue
            if base.owners[i] == q.target:
                t = max(t, score)
            else:
                o = max(o, score)
        best_target.append(t)
        best_other.append(o)
    best: tuple[float, int, Quality] | None = None
    for threshold in range(70, 101):
        quality = Quality()
        for q, t, o in zip(queries, best_target, best_other, strict=True):
            quality.add(q, t >= threshold, o >= threshold)
        p, r = quality.precision, quality.recall
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        if best is None or f1 > best[0]:
            best = (f1, threshold, quality)
    assert best is not None
    _, threshold, quality = best
    # Latency of one realistic query: the names at or above the threshold, best first.
    for q in queries[:20]:
        process.extract(
            utils.default_process(q.name),
            base.choices,
            scorer=fuzz.token_sort_ratio,
            processor=None,
            limit=10,
            score_cutoff=threshold,
        )
    for q in queries:
        started = time.perf_counter()
        process.extract(
            utils.default_process(q.name),
            base.choices,
            scorer=fuzz.token_sort_ratio,
            processor=None,
            limit=10,
            score_cutoff=threshold,
        )
        quality.latencies_ms.append((time.perf_counter() - started) * 1000)
    return quality, threshold


def measure(
    list_file: Path,
    *,
    positives: int,
    negatives: int,
    progress: Callable[[str], None] = lambda _: None,
    with_baseline: bool = True,
) -> dict[str, Any]:
    started = time.perf_counter()
    entries = parse_file(list_file)
    parse_s = time.perf_counter() - started
    started = time.perf_counter()
    index = ScreeningIndex(entries)
    build_s = time.perf_counter() - started
    progress(f"  parsed {len(entries)} entries in {parse_s:.2f}s, index built in {build_s:.2f}s")
    queries = build_queries(entries, positives=positives, negatives=negatives)
    progress(f"  {len(queries)} labelled queries ({positives} positives)")
    ours = run_ours(index, queries)
    base, threshold = (
        run_baseline(baseline_choices(entries), queries) if with_baseline else (None, 0)
    )
    return {
        "entries": len(entries),
        "names": len(index.names),
        "parse_seconds": round(parse_s, 3),
        "index_build_seconds": round(build_s, 3),
        "queries": len(queries),
        "ours": ours,
        "baseline": base,
        "baseline_threshold": threshold,
    }


def summary(quality: Quality) -> dict[str, Any]:
    return {
        "recall": round(quality.recall, 4),
        "precision": round(quality.precision, 4),
        "tp": quality.tp,
        "fp": quality.fp,
        "fn": quality.fn,
        "positives": quality.positives,
        "misses": quality.misses,
        "false_hits": quality.false_hits,
    }
