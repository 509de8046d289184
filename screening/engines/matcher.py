"""The in-memory screening index of one watch-list version, and how a name is scored.

Finding candidates never scores the whole list: every listed token's spelling skeleton
is in an inverted index, with its one-letter deletions (typos) and its consonant outline
(vowel variants) pointing back at it. A query token looks up the listed tokens it may
be; only names reached that way are scored, and only those whose best possible score
could still reach the threshold.

Scoring aligns query tokens with listed tokens (order free), then averages how much of
the query is explained and how much of the listed name is covered, each weighted:
particles and generic company words count little, and in a listed person's name
("FAMILY, Given Middle") the middle names count little, so dropping them still matches.
The family name (or, for organisations, a distinctive word) must agree: a listed
person's given name next to an unrelated family name is no match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Literal

import numpy as np
from rapidfuzz.distance import OSA
from rapidfuzz.fuzz import ratio

from screening.engines.entries import ParsedEntry, entry_hash
from screening.engines.normalize import Token, has_title, tokens
from screening.engines.transliterate import has_article
from screening.policy import ScreeningConfig

MIDDLE_WEIGHT = 0.35
# A listed middle name the query leaves out (Usama Bin Ladin for "BIN LADIN, Usama bin
# Muhammad bin Awad") counts this much of its weight, once the family name and the first
# given name agree: people rarely write all of their middle names.
DROPPED_MIDDLE = 0.25
MIN_TOKEN_SIM = 0.7
# A word read from Arabic script with the same consonants as a Latin one (أسامة / Usama).
ABJAD_SIM = 0.95
ABJAD_SHORT_SIM = 0.9  # ... when those are only one or two consonants
AGREE_SIM = 0.8
MAX_HITS = 50
_TOP_K = 8
_KANA_JI = re.compile("\u30b8(?![\u30e3\u30e5\u30e7\u30a7])")  # ジ not as ja, ju, jo, je
_EMPTY = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=float)
NAME_KINDS = {"primary": "listed name", "aka": "alias (a.k.a.)", "fka": "former name (f.k.a.)"}
NAME_KINDS["nka"] = "new name (n.k.a.)"

Kind = Literal["person", "entity"]


@dataclass(frozen=True, slots=True)
class MatchHit:
    ent_num: int
    entry_type: str
    listed_name: str
    matched_name: str
    name_kind: str
    score: float
    name_score: float
    reasons: tuple[str, ...]
    programs: tuple[str, ...]
    list_name: str = ""  # the list the entry is on ("OFAC-SDN", "UN-SC", "PEP-OS"…)
    reference: str = ""  # the list's own reference for the entry
    entry_hash: str = ""  # `entries.entry_hash` of the entry as indexed
    topics: tuple[str, ...] = ()  # "sanction", "role.pep"


@dataclass(slots=True)
class _Name:
    entry: int
    name: str
    kind: str
    weak: bool
    person: bool
    toks: tuple[Token, ...]
    weights: tuple[float, ...]
    family: tuple[bool, ...]
    total: float
    particles: float
    compacts: tuple[str, ...]
    # Per token: a given name after the first (or a particle among them), and the first given name.
    middle: tuple[bool, ...] = ()
    first_given: int = -1
    # The most the dropped-middle-name discount can take off `total` (for candidate bounds).
    middle_discount: float = 0.0
    # How much more a later family name counts when it stands in for a missing first one.
    swap: float = 0.0
    # Unindexed tokens that are not particles (initials...), and the running sums of the
    # indexed tokens' weights, largest first (for candidate bounds).
    loose: int = 0
    top: tuple[float, ...] = (0.0,)


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _name_record(
    entry_idx: int,
    entry: ParsedEntry,
    name: str,
    kind: str,
    weak: bool,
    keep_titles: bool = False,
) -> _Name:
    person = entry.entry_type == "person"
    family_part, comma, given_part = name.partition(",")
    if person and comma and given_part.strip():
        fam = tokens(family_part, kind="person", keep_titles=keep_titles)
        giv = tokens(given_part, kind="person", keep_titles=keep_titles)
        toks = (*fam, *giv)
        family = tuple([True] * len(fam) + [False] * len(giv))
        # Second family names (Rodriguez Orejuela) are often dropped: they count half.
        weights: list[float] = []
        for t in fam:
            first_family = not any(w >= 1.0 for w in weights)
            weights.append(t.weight if t.particle or first_family else min(t.weight, 0.5))
        first_given = True
        # However many middle names are listed, together they count about as much as half a name.
        middles = max(1, sum(1 for t in giv if not t.particle) - 1)
        middle_weight = min(MIDDLE_WEIGHT, 0.6 / middles)
        for t in giv:
            if t.particle:
                weights.append(t.weight)
            elif first_given:
                weights.append(t.weight)
                first_given = False
            else:
                weights.append(min(t.weight, middle_weight))
        given_first = "".join(t.canon for t in (*giv, *fam) if not t.particle)
        first_index = next((len(fam) + k for k, t in enumerate(giv) if not t.particle), -1)
        middle = tuple(i > first_index >= 0 and not family[i] for i in range(len(toks)))
    else:
        toks = tuple(tokens(name, kind="person" if person else "entity", keep_titles=keep_titles))
        family = tuple([False] * len(toks))
        weights = [t.weight for t in toks]
        given_first = ""
        first_index, middle = -1, tuple([False] * len(toks))
    family_weights = [
        w for t, w, f in zip(toks, weights, family, strict=True) if f and not t.particle
    ]
    swap = max(family_weights) - min(family_weights) if len(family_weights) > 1 else 0.0
    listed_order = "".join(t.canon for t in toks if not t.particle)
    compacts = tuple(c for c in {listed_order, given_first} if c)
    return _Name(
        entry_idx,
        name,
        kind,
        weak,
        person,
        toks,
        tuple(weights),
        family,
        sum(weights) or 1.0,
        sum(w for t, w in zip(toks, weights, strict=True) if _unindexed(t)),
        compacts,
        middle,
        first_index,
        sum(w * (1 - DROPPED_MIDDLE) for w, m in zip(weights, middle, strict=True) if m),
        swap,
        sum(1 for t in toks if _unindexed(t) and not t.particle),
        _running_top([w for t, w in zip(toks, weights, strict=True) if not _unindexed(t)]),
    )


def _running_top(weights: list[float]) -> tuple[float, ...]:
    """(0, largest, largest two, ...): the most k tokens can weigh together."""
    out = [0.0]
    for w in sorted(weights, reverse=True):
        out.append(out[-1] + w)
    return tuple(out)


def token_similarity(a: Token, b: Token) -> float:
    """1.0 same canonical spelling, 0.97 same skeleton, else edit similarity (0 below 0.7)
    of spellings one slip apart or with the same consonant outline (further apart is
    another name). A word read from Arabic script agrees by its consonants alone."""
    if a.canon == b.canon:
        return 1.0
    if a.abjad or b.abjad:
        if not a.outline or a.outline != b.outline:
            return 0.0
        return ABJAD_SIM if len(a.outline) >= 3 else ABJAD_SHORT_SIM
    if a.skel == b.skel:
        return 0.97
    if len(a.canon) == 1 or len(b.canon) == 1:  # an initial stands for a name
        return 0.85 if a.canon[0] == b.canon[0] else 0.0
    sim = _edit_similarity(a.skel, b.skel) if _near(a.skel, b.skel) else 0.0
    if (a.tskel != a.skel or b.tskel != b.skel) and _near(a.tskel, b.tskel):
        # A mistyped variant (Msehmet) is near what was written, not the canonical form.
        sim = max(sim, _edit_similarity(a.tskel, b.tskel))
    if (a.text != a.tskel or b.text != b.tskel) and _near(a.text, b.text):
        # A slip that breaks a digraph (Boucher / Bodcher: bucher, bodcher) is one slip in
        # the letters as written.
        sim = max(sim, _edit_similarity(a.text, b.text))
    return sim if sim >= MIN_TOKEN_SIM else 0.0


def _near(a: str, b: str) -> bool:
    """Spellings the index finds from each other: one slip apart, or the same outline."""
    return OSA.distance(a, b, score_cutoff=1) <= 1 or _outline(a) == _outline(b)


def _edit_similarity(a: str, b: str) -> float:
    """Edit similarity where one slip (typo, swapped letters) in a long word costs 0.1."""
    distance = OSA.distance(a, b)
    longest = max(len(a), len(b))
    sim = 1 - distance / longest
    if distance == 1 and min(len(a), len(b)) >= 5:
        return max(sim, 0.9)
    return sim


@dataclass
class _Alignment:
    score: float
    pairs: list[tuple[int, int, float]]
    family_agrees: bool
    distinctive_agrees: bool
    # Some looked-up token (not a particle or an initial) agrees: without one, no match.
    linked: bool = False


def _align(
    query: list[Token],
    qweights: list[float],
    name: _Name,
    memo: dict[tuple[int, int], float] | None = None,
) -> _Alignment:
    """Pair query and listed tokens, most alike first. `memo` keeps the similarities of
    one query's tokens with listed tokens (by identity: the index interns its tokens)."""
    candidates = []
    for i, qt in enumerate(query):
        for j, nt in enumerate(name.toks):
            key = (i, id(nt))
            s = memo.get(key) if memo is not None else None
            if s is None:
                # A particle only ever pairs with a particle (al ≠ Ali).
                s = 0.0 if qt.particle != nt.particle else token_similarity(qt, nt)
                if memo is not None:
                    memo[key] = s
            if s:
                candidates.append((s, i, j))
    candidates.sort(reverse=True)
    used_q: set[int] = set()
    used_n: set[int] = set()
    pairs: list[tuple[int, int, float]] = []
    for s, i, j in candidates:
        if i in used_q or j in used_n:
            continue
        used_q.add(i)
        used_n.add(j)
        pairs.append((i, j, s))
    qtotal = sum(qweights) or 1.0
    q_cov = sum(qweights[i] * s for i, _, s in pairs) / qtotal
    linked = [
        (i, j, s) for i, j, s in pairs if not _unindexed(query[i]) and not _unindexed(name.toks[j])
    ]
    # A listed family name agrees also with a query word of one consonant read from an
    # abjad or kana (Lu ル, Atia アティア): too short to find candidates by itself,
    # yet the family name it spells.
    family = [
        (s, j)
        for i, j, s in pairs
        if name.family[j]
        and s >= AGREE_SIM
        and not _unindexed(name.toks[j])
        and not query[i].particle
        and (query[i].abjad or not _unindexed(query[i]))
    ]
    family_agrees = bool(family)
    ntotal = name.total
    first_agrees = any(j == name.first_given and s >= AGREE_SIM for _, j, s in pairs)
    if family_agrees and first_agrees and name.middle:
        ntotal -= sum(
            name.weights[j] * (1 - DROPPED_MIDDLE)
            for j in range(len(name.toks))
            if name.middle[j] and j not in used_n
        )
    covered = sum(name.weights[j] * s for _, j, s in pairs)
    if family_agrees and name.swap:
        # The first family name is missing and a later one agrees: that one counts as the
        # first (Gilberto Orejuela for "RODRIGUEZ OREJUELA, Gilberto Jose").
        first_family = max(
            (j for j in range(len(name.toks)) if name.family[j] and not name.toks[j].particle),
            key=lambda j: (name.weights[j], -j),
        )
        if first_family not in used_n:
            s, j = max(family)
            covered += (name.weights[first_family] - name.weights[j]) * s
    n_cov = covered / ntotal
    distinctive_agrees = any(name.weights[j] >= 1.0 and s >= AGREE_SIM for _, j, s in linked)
    return _Alignment(
        100 * (q_cov + n_cov) / 2, pairs, family_agrees, distinctive_agrees, bool(linked)
    )


def _quote(token: Token) -> str:
    return f"'{token.text.upper()}'"


def _explain_name(query: list[Token], name: _Name, al: _Alignment) -> list[str]:
    kind = NAME_KINDS.get(name.kind, name.kind)
    reasons = [f"matched the {kind} '{name.name}'" + (" (a weak alias)" if name.weak else "")]
    meaningful_q = [i for i, t in enumerate(query) if not t.particle]
    agreeing = [(i, j, s) for i, j, s in al.pairs if not query[i].particle]
    notes = []
    for i, j, s in agreeing:
        qt, nt = query[i], name.toks[j]
        if qt.text == nt.text:
            continue
        if qt.canon == nt.canon:
            notes.append(f"{_quote(qt)}→{_quote(nt)}")
        elif s >= 0.97:
            notes.append(f"{_quote(qt)}→{_quote(nt)} (same spelling skeleton)")
        else:
            notes.append(f"{_quote(qt)}≈{_quote(nt)} ({round(s * 100)}% alike)")
    how = f" after normalising {', '.join(notes)}" if notes else ""
    if len(agreeing) == len(meaningful_q):
        reasons.append(f"all {len(agreeing)} name tokens agree{how}")
    else:
        reasons.append(f"{len(agreeing)} of {len(meaningful_q)} name tokens agree{how}")
    order = [j for i, j, _ in sorted(al.pairs)]
    if order != sorted(order) and not any(name.family):
        reasons.append("word order differs")
    matched_n = {j for _, j, _ in al.pairs}
    missing = [
        name.toks[j]
        for j in range(len(name.toks))
        if j not in matched_n and not name.toks[j].particle
    ]
    if missing:
        reasons.append(
            "not in the query: " + ", ".join(_quote(t) for t in missing) + " of the listed name"
        )
    matched_q = {i for i, _, _ in al.pairs}
    extra = [query[i] for i in meaningful_q if i not in matched_q]
    if extra:
        reasons.append("not in the listed name: " + ", ".join(_quote(t) for t in extra))
    return reasons


def _adjust(
    entry: ParsedEntry,
    config: ScreeningConfig,
    date_of_birth: date | None,
    nationality: str | None,
) -> tuple[float, list[str]]:
    points = 0.0
    reasons: list[str] = []
    if date_of_birth is not None and entry.entry_type == "person":
        if date_of_birth in entry.birth_dates:
            points += config.dob_match_bonus
            reasons.append(
                f"date of birth {date_of_birth.isoformat()} agrees (+{config.dob_match_bonus})"
            )
        elif date_of_birth.year in entry.birth_years:
            full_years = {d.year for d in entry.birth_dates}
            if date_of_birth.year in full_years and len(entry.birth_years) == len(full_years):
                half = round(config.dob_match_bonus / 2, 1)
                points += half
                reasons.append(
                    f"birth year {date_of_birth.year} agrees but the listed day differs (+{half:g})"
                )
            else:
                points += config.dob_match_bonus
                reasons.append(
                    f"date of birth {date_of_birth.year} agrees (+{config.dob_match_bonus})"
                )
        elif entry.birth_years:
            listed = ", ".join(str(y) for y in entry.birth_years[:5])
            points -= config.dob_mismatch_penalty
            reasons.append(
                f"date of birth {date_of_birth.year} differs from listed {listed} "
                f"(-{config.dob_mismatch_penalty})"
            )
        else:
            reasons.append("no date of birth listed")
    if nationality and entry.nationalities:
        code = nationality.upper()
        if code in entry.nationalities:
            points += config.nationality_match_bonus
            reasons.append(f"nationality {code} agrees (+{config.nationality_match_bonus})")
        else:
            points -= config.nationality_mismatch_penalty
            reasons.append(
                f"nationality {code} differs from listed {', '.join(entry.nationalities)} "
                f"(-{config.nationality_mismatch_penalty})"
            )
    return points, reasons


class ScreeningIndex:
    """Every name of one list version, indexed for candidate lookup. Immutable once built.

    Blocking keys: each listed token is found by its spelling skeleton and the skeleton of
    the word as written (their one-letter deletions and consonant outlines point back at
    them), and by its abjad outline, where a word read from Arabic script finds it. Two
    tokens with any similarity at all (`token_similarity`) always reach each other this
    way, and a name only matches when one of its looked-up tokens agrees (`_Alignment.linked`),
    so the lookup never misses a hit.

    The candidate bound: for every reached name the lookup sums, per key, the query
    token's weight times the key's similarity and the listed tokens' weight times it, which
    is at least what any alignment can collect from looked-up tokens; unindexed tokens
    (particles, initials) are assumed to agree in full, on both sides, with whatever they
    might pair with; the dropped-middle-name and family-name allowances are taken at
    their largest. So `bound` ≥ the name's score, and skipping names whose bound is below
    the threshold never changes the result (tests/unit/test_screening_bound.py checks this
    against `exhaustive=True`, which scores every name).
    """

    def __init__(self, entries: Iterable[ParsedEntry], *, version: str = "") -> None:
        self.version = version
        self.entries: list[ParsedEntry] = list(entries)
        self.names: list[_Name] = []
        self.by_ent_num = {e.ent_num: i for i, e in enumerate(self.entries)}
        self.by_key = {e.entry_key: i for i, e in enumerate(self.entries)}
        self.hashes = [entry_hash(e) for e in self.entries]
        postings: dict[str, list[tuple[int, float]]] = {}
        latin_outlines: dict[str, list[tuple[int, float]]] = {}
        abjad_outlines: dict[str, list[tuple[int, float]]] = {}
        interned: dict[Token, Token] = {}
        for ei, entry in enumerate(self.entries):
            for n in entry.names:
                weak = n.strength == "weak"
                recs = [_name_record(ei, entry, n.name, n.kind, weak)]
                if entry.entry_type == "person" and has_title(n.name):
                    # A title that is also a given name (Sayyid, Amir, Haji) is a listed
                    # person's first name too: indexed both ways, as queries are read.
                    titled = _name_record(ei, entry, n.name, n.kind, weak, keep_titles=True)
                    if titled.toks != recs[0].toks:
                        recs.append(titled)
                for rec in recs:
                    if rec.toks:
                        self._add(rec, interned, postings, latin_outlines, abjad_outlines)
        self.postings = postings
        self.latin_outlines = latin_outlines
        self.abjad_outlines = abjad_outlines
        deletes: dict[str, list[str]] = {}
        outlines: dict[str, list[str]] = {}
        for skel in postings:
            if len(skel) >= 4:
                for d in _deletions(skel):
                    deletes.setdefault(d, []).append(skel)
            outlines.setdefault(_outline(skel), []).append(skel)
        self.deletes = deletes
        self.outlines = outlines
        self._best_cache: dict[
            tuple[str, str, str, bool, str, bool, bool], tuple[np.ndarray, np.ndarray, np.ndarray]
        ] = {}
        # Per name, what the candidate bound needs, as arrays (see `_score`).
        recs = self.names
        self._loose = np.array([r.loose for r in recs], dtype=np.int64)
        self._person = np.array([r.person for r in recs], dtype=bool)
        self._compact_len = np.array(
            [[len(c) for c in r.compacts][:2] + [-1000] * (2 - len(r.compacts[:2])) for r in recs],
            dtype=np.int64,
        ).reshape(len(recs), 2)
        self._n_extra = np.array([r.particles + r.swap for r in recs], dtype=float)
        self._n_total = np.array([r.total - r.middle_discount for r in recs], dtype=float)
        # The most k indexed tokens weigh, k < _TOP_K; the last column: all of them.
        self._top = np.array(
            [
                [r.top[min(k, len(r.top) - 1)] for k in range(_TOP_K - 1)] + [r.top[-1]]
                for r in recs
            ],
            dtype=float,
        ).reshape(len(recs), _TOP_K)
        self._reach_cache: dict[
            tuple[str, str, str, bool, str], list[tuple[list[tuple[int, float]], float]]
        ] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, ent_num: int) -> ParsedEntry | None:
        idx = self.by_ent_num.get(ent_num)
        return None if idx is None else self.entries[idx]

    def _similar_vocab(self, skel: str) -> dict[str, float]:
        """Listed spellings this spelling may be, with their similarity (1.0 when equal)."""
        found: set[str] = set()
        if skel in self.postings:
            found.add(skel)
        if len(skel) >= 3:
            found.update(self.deletes.get(skel, ()))
            for d in _deletions(skel):
                if d in self.postings and len(d) >= 3:
                    found.add(d)
                found.update(self.deletes.get(d, ()))
        found.update(self.outlines.get(_outline(skel), ()))
        out: dict[str, float] = {}
        for v in found:
            sim = 1.0 if v == skel else _edit_similarity(skel, v)
            if sim >= MIN_TOKEN_SIM:
                out[v] = sim
        return out

    def _reach(self, token: Token) -> list[tuple[list[tuple[int, float]], float]]:
        """The postings a query token reaches, each with the most its tokens can agree."""
        key = (token.skel, token.tskel, token.text, token.abjad, token.outline)
        cached = self._reach_cache.get(key)
        if cached is not None:
            return cached
        out: list[tuple[list[tuple[int, float]], float]] = []
        if token.abjad:
            for table in (self.latin_outlines, self.abjad_outlines):
                if posting := table.get(token.outline):
                    out.append((posting, 1.0))
        else:
            sims: dict[str, float] = {}
            for spelling in {token.skel, token.tskel, token.text}:
                for v, sim in self._similar_vocab(spelling).items():
                    sims[v] = max(sim, sims.get(v, 0.0))
            out.extend((self.postings[v], sim) for v, sim in sims.items())
            if len(token.outline) >= 2 and (posting := self.abjad_outlines.get(token.outline)):
                out.append((posting, 1.0))
        if len(self._reach_cache) > 200_000:
            self._reach_cache.clear()
        self._reach_cache[key] = out
        return out

    def _candidates(
        self, query: list[Token], query_entity: list[Token], kind: Kind | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Names the query reaches by its blocking keys (see the class docstring): their
        indexes, and for each the most the looked-up query tokens and the listed tokens can
        agree. Nothing else is scored. Without a kind, listed people are reached by the
        query read as a person, organisations by the query read as an organisation."""
        if kind is not None:
            return self._reached(query, kind == "person")
        people = self._reached(query, True)
        organisations = self._reached(query_entity, False)
        return (
            np.concatenate((people[0], organisations[0])),
            np.concatenate((people[1], organisations[1])),
            np.concatenate((people[2], organisations[2])),
        )

    def _reached(
        self, query: list[Token], person: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lookups: dict[tuple[str, str, str, bool, str], tuple[Token, float, int]] = {}
        for t in query:
            if not _unindexed(t):
                key = (t.skel, t.tskel, t.text, t.abjad, t.outline)
                token, weight, count = lookups.get(key, (t, 0.0, 0))
                lookups[key] = (token, weight + t.weight, count + 1)  # Ahmad al-Ahmad: twice
        if not lookups:
            return _EMPTY, _EMPTY_F, _EMPTY_F
        size = len(self.names)
        qw = np.zeros(size)
        nw = np.zeros(size)
        reached = np.zeros(size, dtype=bool)
        for qt, qweight, count in lookups.values():
            ids, sims, weights = self._best(qt, count > 1, person)
            qw[ids] += qweight * sims
            nw[ids] += weights
            reached[ids] = True
        ids = np.flatnonzero(reached)
        return ids, qw[ids], nw[ids]

    def _best(
        self, token: Token, repeated: bool, person: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The listed person (or organisation) names the query token reaches: per name the
        best similarity of a key, and the most the name's reached tokens can count. One
        query token pairs with one listed token, so the best key counts; a token the query
        repeats pairs with as many listed ones, so then every key counts."""
        cache_key = (
            token.skel,
            token.tskel,
            token.text,
            token.abjad,
            token.outline,
            repeated,
            person,
        )
        cached = self._best_cache.get(cache_key)
        if cached is None:
            best: dict[int, list[float]] = {}
            names = self.names
            for posting, sim in self._reach(token):
                for ni, w in posting:
                    slot = best.get(ni)
                    if slot is None:
                        if names[ni].person == person:
                            best[ni] = [sim, w * sim]
                    elif repeated:
                        slot[0] = max(slot[0], sim)
                        slot[1] += w * sim
                    else:
                        slot[0] = max(slot[0], sim)
                        slot[1] = max(slot[1], w * sim)
            cached = (
                np.fromiter(best.keys(), dtype=np.int64, count=len(best)),
                np.fromiter((v[0] for v in best.values()), dtype=float, count=len(best)),
                np.fromiter((v[1] for v in best.values()), dtype=float, count=len(best)),
            )
            if len(self._best_cache) > 20_000:
                self._best_cache.clear()
            self._best_cache[cache_key] = cached
        return cached

    def _add(
        self,
        rec: _Name,
        interned: dict[Token, Token],
        postings: dict[str, list[tuple[int, float]]],
        latin_outlines: dict[str, list[tuple[int, float]]],
        abjad_outlines: dict[str, list[tuple[int, float]]],
    ) -> None:
        """Index one listed name's record under its blocking keys."""
        rec.toks = tuple(interned.setdefault(t, t) for t in rec.toks)
        ni = len(self.names)
        self.names.append(rec)
        keys: dict[str, float] = {}
        lkeys: dict[str, float] = {}
        akeys: dict[str, float] = {}
        for t, w in zip(rec.toks, rec.weights, strict=True):
            if _unindexed(t):
                continue
            if t.abjad:
                akeys[t.outline] = akeys.get(t.outline, 0.0) + w
                continue
            for k in {t.skel, t.tskel, t.text}:
                keys[k] = keys.get(k, 0.0) + w
            if len(t.outline) >= 2:
                lkeys[t.outline] = lkeys.get(t.outline, 0.0) + w
        for target, found in (
            (postings, keys),
            (latin_outlines, lkeys),
            (abjad_outlines, akeys),
        ):
            for k, w in found.items():
                target.setdefault(k, []).append((ni, w))

    def _readings(self, name: str, kind: Kind | None) -> list[tuple[list[Token], list[Token]]]:
        """The query read as a person and as an organisation, and once more with the titles
        that are also names kept ("Dr Amir Kubura"), when it has any."""
        query = tokens(name, kind=kind or "person")
        query_entity = tokens(name, kind="entity") if kind is None else query
        if not query:
            return []
        readings = [(query, query_entity)]
        if kind != "entity" and has_title(name):
            titled = tokens(name, kind="person", keep_titles=True)
            if titled != query:
                readings.append((titled, titled if kind is not None else query_entity))
        if has_article(name):
            # ال may open a foreign name written in Arabic letters (اليكسي: Alexei).
            whole = tokens(name, kind=kind or "person", article=False)
            whole_entity = tokens(name, kind="entity", article=False) if kind is None else whole
            readings.append((whole, whole_entity))
        if _KANA_JI.search(name):
            # Kana write ji and zi alike (ジ: ティジニ Tizini, ジム Jim): the zi reading too.
            zi = _KANA_JI.sub("\u30ba\u30a3", name)
            for article in (True, False) if has_article(zi) else (True,):
                zq = tokens(zi, kind=kind or "person", article=article)
                zq_entity = tokens(zi, kind="entity", article=article) if kind is None else zq
                if zq:
                    readings.append((zq, zq_entity))
        return readings

    def candidate_keys(self, name: str, *, kind: Kind | None = None) -> set[str]:
        """The entry keys ("UN-SC:QDi.001") `name` reaches by blocking keys, before any
        scoring: `match` can only ever return entries among these, at any threshold and
        whatever date of birth or nationality is given. So a customer whose names reach
        none of a list version's added or changed entries cannot get a new hit from them."""
        keys: set[str] = set()
        for query, query_entity in self._readings(name, kind):
            ids = self._candidates(query, query_entity, kind)[0]
            keys.update(self.entries[self.names[ni].entry].entry_key for ni in ids.tolist())
        return keys

    def match(
        self,
        name: str,
        *,
        kind: Kind | None = None,
        date_of_birth: date | None = None,
        nationality: str | None = None,
        config: ScreeningConfig | None = None,
        exhaustive: bool = False,
    ) -> list[MatchHit]:
        """Listed entries whose name or alias matches, best first (one hit per entry).
        `exhaustive` scores every listed name instead of the candidates (for tests and the
        benchmark's baseline: the result is the same)."""
        config = config or ScreeningConfig()
        bonus = (config.dob_match_bonus if date_of_birth else 0) + (
            config.nationality_match_bonus if nationality else 0
        )
        floor = config.hit_threshold - bonus
        best: dict[int, tuple[float, _Name, _Alignment, list[Token]]] = {}
        for query, query_entity in self._readings(name, kind):
            self._score(query, query_entity, kind, floor, best, exhaustive)
        hits: list[MatchHit] = []
        for ei, (name_score, rec, al, q) in best.items():
            entry = self.entries[ei]
            points, extra = _adjust(entry, config, date_of_birth, nationality)
            final = max(0.0, min(100.0, name_score + points))
            if final < config.hit_threshold:
                continue
            reasons = _explain_name(q, rec, al)
            reasons.append(f"name score {name_score:.1f}")
            reasons.extend(extra)
            hits.append(
                MatchHit(
                    ent_num=entry.ent_num,
                    entry_type=entry.entry_type,
                    listed_name=entry.primary_name,
                    matched_name=rec.name,
                    name_kind=rec.kind,
                    score=round(final, 1),
                    name_score=round(name_score, 1),
                    reasons=tuple(reasons),
                    programs=tuple(entry.programs),
                    list_name=entry.list_name,
                    reference=entry.ref,
                    entry_hash=self.hashes[ei],
                    topics=tuple(entry.topics),
                )
            )
        hits.sort(key=lambda h: (-h.score, h.listed_name))
        return hits[:MAX_HITS]

    def _score(
        self,
        query: list[Token],
        query_entity: list[Token],
        kind: Kind | None,
        floor: float,
        best: dict[int, tuple[float, _Name, _Alignment, list[Token]]],
        exhaustive: bool,
    ) -> None:
        """Score one reading of the query into `best` (the best name per entry)."""
        compact_q = "".join(t.canon for t in query if not t.particle)
        compacts: dict[int, float] = {}
        if exhaustive:
            person = kind == "person"
            names: list[int] = [
                ni for ni, rec in enumerate(self.names) if kind is None or rec.person == person
            ]
        else:
            ids, qw, nw = self._candidates(query, query_entity, kind)
            bound = np.empty(len(ids))
            persons = self._person[ids]
            for reading in (True, False):
                rows = persons | (kind is not None) if reading else ~persons & (kind is None)
                if not rows.any():
                    continue
                qtotal, qloose_weight, qloose, qtop = _query_facts(
                    query if reading else query_entity
                )
                # Loose tokens (particles, initials) on either side may agree with anything.
                r_ids = ids[rows]
                q_most = (
                    qw[rows]
                    + qloose_weight
                    + np.asarray(qtop)[np.minimum(self._loose[r_ids], len(qtop) - 1)]
                )
                n_most = nw[rows] + self._n_extra[r_ids] + self._top[r_ids, min(qloose, _TOP_K - 1)]
                bound[rows] = 50 * np.minimum(q_most / qtotal, 1.0) + 50 * np.minimum(
                    n_most / self._n_total[r_ids], 1.0
                )
            keep = bound >= floor
            names = ids[keep].tolist()
            # Below the bound, only a name written alike without spaces can still match
            # (`ratio` cannot reach 92 unless the lengths are within 8% of their sum).
            low = ids[~keep]
            n = len(compact_q)
            lengths = self._compact_len[low]
            window = (2 * np.minimum(lengths, n) >= 0.92 * (lengths + n)).any(axis=1)
            for ni in low[window].tolist():
                c = _compact(compact_q, self.names[ni].compacts)
                if c >= 92:
                    compacts[ni] = c
                    names.append(ni)
        qweights = {True: [t.weight for t in query], False: [t.weight for t in query_entity]}
        memos: dict[bool, dict[tuple[int, int], float]] = {True: {}, False: {}}
        for ni in names:
            rec = self.names[ni]
            person_reading = rec.person or kind is not None
            q = query if person_reading else query_entity
            compact = compacts.get(ni)
            if compact is None:
                compact = _compact(compact_q, rec.compacts)
            al = _align(q, qweights[person_reading], rec, memos[person_reading])
            if not al.linked:
                continue
            if rec.weak:
                exact = len(al.pairs) == len(q) == len(rec.toks) and all(
                    s >= 0.97 for *_, s in al.pairs
                )
                if not exact:
                    continue
            elif any(rec.family) and not al.family_agrees:
                if compact < 92:
                    continue  # the listed family name is not in the query
            elif not al.distinctive_agrees and compact < 92:
                continue
            score = al.score
            if compact >= 92 and compact - 3 > score:
                al.score = score = compact - 3
            if score < floor:
                continue
            previous = best.get(rec.entry)
            if previous is None or score > previous[0]:
                best[rec.entry] = (score, rec, al, q)


def _compact(compact_q: str, compacts: tuple[str, ...]) -> float:
    """How alike the query and the listed name are written without spaces, if 92 or more
    (Abdulrahman / Abdul Rahman), else 0."""
    best = 0.0
    n = len(compact_q)
    for c in compacts:
        if 2 * min(n, len(c)) >= 0.92 * (n + len(c)):  # `ratio` cannot reach 92 otherwise
            best = max(best, ratio(compact_q, c, score_cutoff=92))
    return best


def _query_facts(query: list[Token]) -> tuple[float, float, int, tuple[float, ...]]:
    """Total weight, weight and number of loose (unindexed) tokens that are not particles,
    and the running sums of the indexed tokens' weights, largest first."""
    total = sum(t.weight for t in query) or 1.0
    loose_weight = sum(t.weight for t in query if _unindexed(t))
    loose = sum(1 for t in query if _unindexed(t) and not t.particle)
    return total, loose_weight, loose, _running_top([t.weight for t in query if not _unindexed(t)])


def _unindexed(token: Token) -> bool:
    """Particles and initials find nothing by themselves; they only count once aligned."""
    if token.abjad:
        return token.particle or len(token.outline) < 2
    return token.particle or len(token.skel) < 2 or len(token.canon) < 2


@lru_cache(maxsize=200_000)
def _outline(skel: str) -> str:
    """The consonant outline of a skeleton: vowel variants (Usama / Osama) share it."""
    if len(skel) <= 3:
        return "\x00" + skel  # too short to say anything by consonants alone
    return skel[0] + "".join(c for c in skel[1:] if c not in "aeiou")
