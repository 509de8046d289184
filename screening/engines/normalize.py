"""Name normalisation for screening: the same person written two ways gets the same tokens.

A name becomes a list of `Token`s. Each token has
  * `text`   — what was written, lower-cased and without accents (for reasons shown to people),
  * `canon`  — the canonical spelling: transliteration variants of one name share it
               (Mohammed / Muhammad / Mohamad → `muhammad`, Sergey / Sergei → `sergei`),
  * `skel`   — a spelling skeleton that evens out the usual transliteration digraphs
               (ou/oo → u, kh → h, ph → f, y → i, doubled letters once...), compared with
               edit distance when two canonical spellings differ,
  * `key`    — the consonant outline of the skeleton, used only to find candidates,
  * `weight` — how much the token counts: particles (al, bin, de, van...) and generic
               company words count little, so dropping or adding them barely matters.
Titles and honorifics (Mr, Dr, Sheikh, Haji, General...) are dropped from person names,
legal forms (LLC, Ltd, JSC, OOO, GmbH, SA...) from organisation names.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import OSA

from screening.engines.transliterate import script_words

PARTICLE_WEIGHT = 0.2
GENERIC_WEIGHT = 0.5
INITIAL_WEIGHT = 0.35

TITLES = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "dr",
        "doctor",
        "prof",
        "professor",
        "sir",
        "dame",
        "lord",
        "lady",
        "sheikh",
        "shaikh",
        "sheik",
        "shaykh",
        "cheikh",
        "haji",
        "hajji",
        "hadji",
        "hajj",
        "al-haj",
        "alhaj",
        "mullah",
        "mulla",
        "maulana",
        "mawlana",
        "maulvi",
        "mawlawi",
        "imam",
        "sayyid",
        "syed",
        "sayed",
        "hon",
        "honorable",
        "honourable",
        "rev",
        "reverend",
        "father",
        "fr",
        "sr",
        "jr",
        "ii",  # generational suffixes (Joe Manchin III)
        "iii",
        "iv",
        "general",
        "gen",
        "col",
        "colonel",
        "major",
        "maj",
        "captain",
        "capt",
        "lt",
        "lieutenant",
        "brigadier",
        "commander",
        "cmdr",
        "admiral",
        "adm",
        "sergeant",
        "sgt",
        "marshal",
        "president",
        "minister",
        "governor",
        "ayatollah",
        "hojatoleslam",
        "emir",
        "amir",
        "prince",
        "princess",
        "king",
        "queen",
        "mrs.",
        "dipl",
        "ing",
        "eng",
        "engineer",
        "maulavi",
        "moulavi",
        "maulvi",
        "molvi",
        "qari",
        "mufti",
        "ustad",
        "ustadh",
    ]
)
# Titles that are also given names ("Amir Kubura", "Haji Noorullah", "Sayed Ahmad"): only
# dropped while two other name words remain.
_TITLE_ALSO_NAME = frozenset(
    {
        "amir",
        "emir",
        "sayed",
        "syed",
        "sayyid",
        "king",
        "major",
        "haji",
        "hajji",
        "hadji",
        "sheikh",
        "shaikh",
        "imam",
        "prince",
    }
)

_PURE_TITLES = TITLES - _TITLE_ALSO_NAME

LEGAL_FORMS = frozenset(
    [
        "llc",
        "ltd",
        "limited",
        "co",
        "company",
        "corp",
        "corporation",
        "inc",
        "incorporated",
        "plc",
        "llp",
        "lp",
        "gmbh",
        "mbh",
        "ag",
        "kg",
        "sa",
        "sarl",
        "sas",
        "sl",
        "srl",
        "spa",
        "bv",
        "nv",
        "oy",
        "ab",
        "as",
        "asa",
        "aps",
        "jsc",
        "ojsc",
        "cjsc",
        "pjsc",
        "ojsc",
        "zao",
        "oao",
        "ooo",
        "pao",
        "tov",
        "ao",
        "fze",
        "fzco",
        "fz",
        "fzc",
        "fzllc",
        "pte",
        "pty",
        "bhd",
        "sdn",
        "tbk",
        "kk",
        "kft",
        "zrt",
        "doo",
        "dd",
        "ad",
        "eood",
        "ood",
        "sp",
        "zoo",
        "sro",
        "as",
        "a.s.",
        "cia",
        "ltda",
        "sac",
        "saic",
        "sae",
        "wll",
        "est",
        "establishment",
    ]
)

PARTICLES = frozenset(
    [
        "abd",
        "abu",
        "abou",
        "bou",
        "umm",
        "al",
        "el",
        "ul",
        "ad",
        "ar",
        "as",
        "at",
        "az",
        "an",
        "ash",
        "ath",
        "bin",
        "ibn",
        "bint",
        "binti",
        "ben",
        "bte",
        "bt",
        "de",
        "del",
        "della",
        "der",
        "den",
        "di",
        "da",
        "das",
        "dos",
        "do",
        "du",
        "van",
        "von",
        "la",
        "le",
        "les",
        "y",
        "e",
        "et",
        "of",
        "the",
        "and",
        "und",
        "och",
        "i",
        "ve",
    ]
)

# Words of spelled-out legal forms ("limited liability company", "S.A. de C.V."): they
# count as little as particles, without being dropped from a name that is only them.
LEGAL_WORDS = frozenset(
    [
        "liability",
        "joint",
        "stock",
        "closed",
        "open",
        "public",
        "private",
        "partnership",
        "societe",
        "sociedad",
        "anonima",
        "anonyme",
        "responsabilidad",
        "limitada",
        "obshchestvo",
        "ogranichennoy",
        "ogranichennoi",
        "otvetstvennostyu",
        "aktsionernoe",
        "aktsionernoye",
        "zakrytoe",
        "otkrytoe",
        "publichnoe",
        "cv",
        "rl",
        "capital",
        "variable",
    ]
)

GENERIC_WORDS = frozenset(
    [
        "bank",
        "banco",
        "banque",
        "bankasi",
        "trading",
        "trade",
        "international",
        "intl",
        "group",
        "holding",
        "holdings",
        "industries",
        "industrial",
        "industry",
        "enterprise",
        "enterprises",
        "service",
        "services",
        "commercial",
        "development",
        "investment",
        "investments",
        "import",
        "export",
        "general",
        "national",
        "global",
        "shipping",
        "petroleum",
        "oil",
        "gas",
        "energy",
        "construction",
        "engineering",
        "technology",
        "technologies",
        "tech",
        "solutions",
        "systems",
        "partners",
        "management",
        "consulting",
        "logistics",
        "marine",
        "maritime",
        "agency",
        "organization",
        "organisation",
        "foundation",
        "institute",
        "center",
        "centre",
        "association",
        "union",
        "society",
        "fund",
        "ministry",
        "committee",
        "office",
        "front",
        "movement",
        "party",
        "army",
        "brigade",
    ]
)

# Transliteration variants of one name → its canonical spelling.
_VARIANT_GROUPS = {
    "muhammad": "mohammed mohammad mohamed mohamad muhammed muhamed muhamad mohammet muhammet mehmet mehmed mohd mohamud mouhamed mouhammed mohummad muhammadu",
    "ahmad": "ahmed ahmet achmed akhmad akhmed",
    "husain": "hussein hussain husayn husein hosein hossein hussien houssein hossain husseyn",
    "hasan": "hassan hasen hassen",
    "abdullah": "abdallah abdalla abdulla abdellah abdollah abdoulaye",
    "yusuf": "yousef yusef youssef yousif yousuf yusif yossef yousaf",
    "mustafa": "mustapha moustafa mostafa mustafah",
    "mahmud": "mahmoud mahmood mehmood mahmut",
    "mansur": "mansour mansoor",
    "khalid": "khaled khalild halid",
    "umar": "omar omer umer",
    "usama": "osama usamah osamah",
    "said": "saeed sayeed saied saeid saied sa'id",
    "jamal": "gamal jamaal",
    "nasir": "nasser naser nassir nasr-",
    "qasim": "qassem kassem kasim qasem gasem ghasem kasem",
    "ibrahim": "ebrahim ibraheem brahim",
    "ismail": "ismael esmail ismayil",
    "yahya": "yahia yehia yahiya",
    "salih": "saleh salah-",
    "abbas": "abas",
    "hizballah": "hezbollah hizbullah hizbollah hezballah",
    "qaida": "qaeda qaedah",
    "sergei": "sergey serguei sergiy serhiy serhii sergii",
    "aleksandr": "alexander aleksander alexandr oleksandr alexandre aleksandar",
    "aleksei": "alexei alexey aleksey oleksiy oleksii alexej",
    "yuri": "yury yuriy iurii iury yurii jurij juri",
    "dmitri": "dmitry dmitriy dmitrii dmytro",
    "andrei": "andrey andriy andrii",
    "nikolai": "nikolay mykola nicolai",
    "evgeni": "evgeny evgeniy yevgeny yevgeniy evgenii yevhen yevgen yevgenii",
    "vladimir": "volodymyr wladimir",
    "mikhail": "michail mykhailo mikhael",
    "grigori": "grigory grigoriy hryhoriy grigorii",
    "arkadi": "arkady arkadiy arkadii",
    "vasili": "vasily vasiliy vasyl vasilii",
    "anatoli": "anatoly anatoliy anatolii",
    "gennadi": "gennady gennadiy gennadii",
    "valeri": "valery valeriy valerii",
    "viktor": "victor wiktor",
    "konstantin": "constantin kostiantyn konstantyn",
    "pyotr": "petr piotr",
    "fyodor": "fedor fiodor",
    "ilya": "ilia ilja",
    "maksim": "maxim maksym",
    "yevgenia": "evgenia evgeniya yevgeniya",
    "natalya": "natalia nataliya",
    "tatyana": "tatiana tatjana",
    "yelena": "elena jelena olena",
    "olga": "olha",
    "igor": "ihor",
    "oleg": "oleh",
    # Korean: Revised Romanisation (and anyascii's Hangul) beside McCune-Reischauer.
    "kim": "gim",
    "ri": "rhee yi rhie",
    "jong": "jeong",
    "un": "eun",
    "song": "seong",
    "yong": "yeong",
    "kwang": "gwang",
    "pak": "bak",
}
VARIANTS: dict[str, str] = {
    variant.rstrip("-"): canon
    for canon, variants in _VARIANT_GROUPS.items()
    for variant in [canon, *variants.split()]
}

# Letters NFKD does not take apart.
_SPECIAL = str.maketrans(
    {
        "ß": "ss",
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "\u0131": "i",  # dotless i (Turkish)
        "ħ": "h",
    }
)
# ' and its look-alikes (right/left quotes, grave, acute, modifier letters for ayn/hamza).
_APOSTROPHES = re.compile("['\u2019\u2018`\u00b4\u02bb\u02bc\u02bf\u02be]")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_INITIALISM = re.compile(r"\b(?:[a-z]\.){2,}")
_ARTICLE_PREFIX = re.compile(r"\b(al|el|ul|ad|ar|as|ash|at|az|an)-(?=[a-z])")
# Abd al X / Abdul X / Abdel X / Abdur X → abdX ("servant of X" is one name however written).
_ABD_SPLIT = re.compile(r"^abd(?:ul|el|al|ol|il|ur|us|ar|ir|oul|ou|u)?$")
_ABD_JOINED = re.compile(r"^abd(?:ul|el|al|ol|il|ur|us|ar|ir|ou)([a-z]{3,})$")
_ABD_LAST = re.compile(r"^abd(?:ul|el|al|ol|il|oul)$")  # not Abdu, a name of its own
_ABD_ARTICLE = frozenset({"al", "el", "ul", "ar", "ur", "as", "an", "ad"})


def fold(text: str) -> str:
    """Lower case, no accents, special letters spelled out."""
    text = unicodedata.normalize("NFKD", text.casefold().translate(_SPECIAL))
    return "".join(c for c in text if not unicodedata.combining(c)).translate(_SPECIAL)


_DIGRAPHS = (
    ("sch", "sh"),
    ("tch", "ch"),
    ("dzh", "j"),
    ("zh", "j"),
    ("ph", "f"),
    ("kh", "h"),
    ("gh", "g"),
    ("dh", "d"),
    ("th", "t"),
    ("ck", "k"),
    ("ou", "u"),
    ("oo", "u"),
    ("ee", "i"),
    ("ie", "i"),
    ("ei", "i"),
    ("ey", "i"),
    ("ay", "ai"),
    ("q", "k"),
    ("w", "v"),
    ("y", "i"),
    ("z", "s"),
    ("c", "k"),
    ("ks", "x"),  # Aleksandr / Alexandr; a mistyped x is one slip, not two
)
_DOUBLES = re.compile(r"(.)\1+")
_VOWELS = re.compile(r"[aeiou]")


@lru_cache(maxsize=200_000)
def skeleton(canon: str) -> str:
    """Spelling skeleton: transliteration digraphs evened out, doubled letters once."""
    s = canon
    # `ch` keeps its sound; plain `c` becomes `k` (Carlos / Karlos) without touching it.
    s = s.replace("ch", "\x01")
    for a, b in _DIGRAPHS:
        s = s.replace(a, b)
    s = s.replace("\x01", "ch")
    s = _DOUBLES.sub(r"\1", s)
    if len(s) > 2 and s.endswith("h") and s[-2] in "aeiou":
        s = s[:-1]  # Abdullah / Abdulla, Fatimah / Fatima
    return s


@lru_cache(maxsize=200_000)
def consonant_key(skel: str) -> str:
    """The consonant outline (first letter kept): Mohamed/Muhamad → mhmd."""
    if len(skel) <= 2:
        return skel
    return _DOUBLES.sub(r"\1", skel[0] + _VOWELS.sub("", skel[1:]))


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    canon: str
    skel: str
    tskel: str  # skeleton of the word as written (before the variant table)
    key: str
    weight: float
    particle: bool
    # Read from an abjad (Arabic, Hebrew: short vowels unwritten): compared by `outline` only.
    abjad: bool = False
    # The consonants as an abjad writes them (`abjad_outline`), "" for particles.
    outline: str = ""


@lru_cache(maxsize=200_000)
def canonical(word: str) -> str:
    """The canonical spelling of one folded word (variant table, Abd-al names)."""
    if word in VARIANTS:
        return VARIANTS[word]
    joined = _ABD_JOINED.match(word)
    if joined and word not in VARIANTS:
        rest = joined.group(1)
        return "abd" + VARIANTS.get(rest, rest)
    return word


_LONG_LEGAL = tuple(w for w in LEGAL_FORMS if len(w) >= 5)
_LONG_LEGAL_WORDS = tuple(w for w in LEGAL_WORDS if len(w) >= 5)
_LONG_GENERIC = tuple(w for w in GENERIC_WORDS if len(w) >= 5)


def _near(word: str, candidates: tuple[str, ...]) -> bool:
    """One slip (OSA) from one of `candidates`, for words of five letters or more."""
    return len(word) >= 5 and any(OSA.distance(word, f, score_cutoff=1) <= 1 for f in candidates)


@lru_cache(maxsize=100_000)
def _generic(canon: str) -> bool:
    """A generic company word, also when mistyped by one letter (INTERNATONAL, HOLDNG)."""
    return canon in GENERIC_WORDS or _near(canon, _LONG_GENERIC)


# Consonant classes an abjad or kana cannot tell apart (Arabic has no p, v or ch: ب ف تش;
# kana no l, and write h before a consonant as f; Greek no sh or ch: sigma, tau-sigma),
# applied to both sides.
_ABJAD_DIGRAPHS = (
    ("sch", "sh"),
    ("tch", "sh"),
    ("tsh", "sh"),
    ("ch", "sh"),
    ("ts", "sh"),
    ("sh", "s"),
    ("dzh", "j"),
    ("zh", "j"),
    ("ph", "f"),
    ("kh", "h"),
    ("gh", "g"),
    ("dh", "d"),
    ("th", "t"),
    ("ck", "k"),
    ("q", "k"),
    ("x", "ks"),
    ("c", "k"),
    ("z", "s"),
    ("v", "f"),
    ("p", "b"),
    ("l", "r"),
    ("f", "h"),  # kana write h before a consonant as fu (アフマド: Ahmad)
)


_NASAL_STOP = re.compile("n[td]|mb")
_NASAL_CLASS = {"t": "d", "d": "d", "b": "b"}


@lru_cache(maxsize=200_000)
def abjad_outline(word: str) -> str:
    """A word as Arabic script writes it: consonants only (short vowels are not written;
    w/y and a final h stand for long vowels and ta marbuta), in classes the script cannot
    tell apart, so "usama", "osama" and أسامة all give "sm", Lavrishchev and لافريشتشيف
    "rfrshf"."""
    s = word
    for a, b in _ABJAD_DIGRAPHS:
        s = s.replace(a, b)
    s = "".join(c for c in s if c not in "aeiouyw")
    s = _DOUBLES.sub(r"\1", s)
    # Greek writes d and b as nt and mp (ντ, μπ), read nd/nt and mb/mp inside a word
    # (Μπαλιντ Balint, Αντρει Andrei): a nasal before its stop is one class with the stop,
    # in the consonants as written (so natalya, ناتاليا "ntr" both give "dr").
    s = _NASAL_STOP.sub(lambda m: _NASAL_CLASS[m.group(0)[1]], s)
    if len(s) > 1 and s.endswith("h"):
        s = s[:-1]  # ta marbuta, or a long vowel
    return s


@lru_cache(maxsize=100_000)
def _legal_form(word: str) -> bool:
    """A legal form, also when mistyped by one letter (LIMTED, COMPNAY)."""
    return word in LEGAL_FORMS or _near(word, _LONG_LEGAL)


@lru_cache(maxsize=100_000)
def _legal_word(word: str) -> bool:
    return word in LEGAL_WORDS or _near(word, _LONG_LEGAL_WORDS)


def split_words(name: str) -> list[str]:
    """Folded words of a name in Latin letters (any script transliterated)."""
    return [w for w, _ in marked_words(name)]


_SINGLE_LETTERS = re.compile(r"\b(?:[a-z] ){1,}[a-z]\b")


def marked_words(
    name: str, *, join_letters: bool = False, article: bool = True
) -> list[tuple[str, bool]]:
    """Folded words of a name, each with whether it was read from an abjad (Arabic,
    Hebrew). With `join_letters` (organisation names), runs of single letters are one
    word: "l l c" is "llc", "s a de c v" is "sa de cv", as "S.A. de C.V." is."""
    out: list[tuple[str, bool]] = []
    for chunk, abjad in script_words(name, article):
        if abjad:
            word = _NON_ALNUM.sub("", fold(_APOSTROPHES.sub("", chunk)))
            if word:
                out.append((word, True))
            continue
        words = _latin_words(chunk)
        if join_letters and len(words) > 1:
            joined = _SINGLE_LETTERS.sub(lambda m: m.group(0).replace(" ", ""), " ".join(words))
            words = joined.split()
        out.extend((w, False) for w in words)
    return out


def _latin_words(name: str) -> list[str]:
    """Folded words of a name: punctuation, hyphens and apostrophes gone, `al-` split off."""
    text = fold(name)
    text = _APOSTROPHES.sub("", text)
    text = _ARTICLE_PREFIX.sub(r"\1 ", text)
    text = _INITIALISM.sub(lambda m: m.group(0).replace(".", "") + " ", text)
    text = text.replace(".", " ")
    return [w for w in _NON_ALNUM.split(text) if w]


_ALLAH = frozenset({"allah", "llah", "ullah", "ulla", "alla", "allakh", "lah", "lakh", "llakh"})


def _split_abd(words: list[str]) -> list[str]:
    """Abd al-X, Abdul X, Abdel-X and AbdulX all become the particle `abd` and X, so the
    name X agrees whatever the spelling and wherever it stands (Abdul Wahed Shafiq /
    Shafiq Abdul Wahed); Abd Allah stays Abdullah."""
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if _ABD_SPLIT.match(word) and i + 1 < len(words):
            j = i + 1
            if words[j] in _ABD_ARTICLE and j + 1 < len(words):
                j += 1
            if words[j] in _ALLAH:
                out.append("abdullah")
                i = j + 1
                continue
            out.append("abd")
            i = j
            continue
        if _ABD_LAST.match(word) and i > 0:
            # Abdul written last (ALIZAI HABIB ABDUL, the order shuffled): the particle.
            out.append("abd")
            i += 1
            continue
        joined = _ABD_JOINED.match(word)
        if joined and word not in VARIANTS:
            rest = joined.group(1)
            out.extend(["abdullah"] if rest in _ALLAH else ["abd", rest])
        else:
            out.append(word)
        i += 1
    return out


def tokens(
    name: str, *, kind: str = "person", keep_titles: bool = False, article: bool = True
) -> list[Token]:
    """The tokens of `name` for a person (`kind="person"`) or an organisation/vessel.

    Titles and honorifics are dropped from a person's name while another name word remains
    ("Dr Aleksandr Petrov" → aleksandr petrov); those that are also given names only while
    two other name words remain ("Amir Kubura" and "Haji Noorullah" keep their first word).
    `keep_titles` keeps every title that is also a name (the matcher scores both
    readings: "Dr Amir Kubura" is also amir kubura)."""
    return list(_tokens(name, kind == "person", keep_titles, article))


def has_title(name: str) -> bool:
    """Whether the name has a word that may be a title (so has a second reading)."""
    return any(w in TITLES for w, _ in marked_words(name))


@lru_cache(maxsize=100_000)
def _tokens(
    name: str, person: bool, keep_titles: bool = False, article: bool = True
) -> tuple[Token, ...]:
    marked = marked_words(name, join_letters=not person, article=article)
    abjad_words = {w for w, a in marked if a}
    words = [w for w, _ in marked]
    if person:
        names_left = [w for w in words if w not in TITLES and w not in PARTICLES]
        if names_left:
            stacked = sum(1 for w in words if w in TITLES) >= 2  # "Sheikh Haji Omar"
            drop = TITLES if (len(names_left) >= 2 or stacked) and not keep_titles else _PURE_TITLES
            words = [w for w in words if w not in drop]
    elif not person:
        kept = [w for w in words if not _legal_form(w)]
        words = kept or words
    words = _split_abd(words)
    out: list[Token] = []
    for word in words:
        abjad = word in abjad_words
        canon = word if abjad else canonical(word)
        skel = skeleton(canon)
        particle = word in PARTICLES or (not person and _legal_word(word))
        if particle:
            weight = PARTICLE_WEIGHT
        elif not person and _generic(canon):
            weight = GENERIC_WEIGHT
        elif len(canon) == 1:
            weight = INITIAL_WEIGHT  # "John R. Carter" is John Carter
        else:
            weight = 1.0
        tskel = skel if canon == word else skeleton(word)
        outline = "" if particle else abjad_outline(canon)
        out.append(
            Token(
                word,
                canon,
                skel,
                tskel,
                consonant_key(skel),
                weight,
                particle,
                abjad and not particle,
                outline,
            )
        )
    return tuple(out)


def normalized(name: str, *, kind: str = "person") -> str:
    """The canonical tokens in sorted order: equal for two spellings of one name."""
    return " ".join(sorted(t.canon for t in tokens(name, kind=kind) if not t.particle))
