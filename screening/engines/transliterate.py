"""Names in any script, read in Latin letters, before they are tokenised.

The text is first put in Unicode normal form NFKC (full-width letters, ligatures and
compatibility forms become plain letters) and stripped of format characters (category Cf:
zero-width spaces and joiners, bidi marks, soft hyphens), which would otherwise split or
hide a word ("U\u200bsama").

Letters outside the Latin script are transliterated with `anyascii` (ISC licence, pure
Python, no native build, tables derived from Unicode data and kept up to date):
Cyrillic and Greek come out as the usual romanisations (Дерипаска → Deripaska), Han as
Mandarin pinyin, one word per character (金正恩 → jin zheng en), Hangul as Revised
Romanisation, one word per syllable (김정은 → gim jeong eun), Arabic and Hebrew as their
consonants (أسامة بن لادن → 'smh bn ldn): these scripts leave short vowels unwritten, so
their words are marked *abjad* and compared by consonant outline only; so are Japanese
kana, which add a vowel after every consonant (ユスフ → yusufu). Greek is read the modern
way (mu-pi b, nu-tau d, omicron-upsilon u, chi kh) before anyascii, and
compared by consonants too (Greek has no sh, ch or j of its own). Arabic particles
are read as the particles they are (بن → bin, ابو → abu, ال → al), and عبد joins the
name that follows (عبد الله → one name, as "Abdullah" is one name).

A Sino-Korean reading of Han characters (金正恩 as Kim Jong Un rather than Jin Zheng En)
would need a Hanja table; the PyPI `hanja` package reads 金 as the noun 금 rather than the
surname 김 and pulls test tools in as run-time dependencies, so it is not used: a Korean
name written in Han characters is read as Mandarin.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from anyascii import anyascii

_ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")
_HEBREW = re.compile("[\u0590-\u05ff\ufb1d-\ufb4f]")
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HANGUL = re.compile("[\uac00-\ud7af]")
_KANA = re.compile("[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_GREEK = re.compile("[\u0370-\u03ff\u1f00-\u1fff]")
# Modern Greek writes b, d, g, u as digraphs (Μπαράκ, Χαμντάν) and reads χ as kh.
_GREEK_DIGRAPHS = (
    ("ου", "u"),  # noqa: RUF001
    ("μπ", "b"),
    ("ντ", "d"),
    ("γκ", "g"),
    ("γγ", "ng"),  # noqa: RUF001
    ("τσ", "ts"),
    ("τζ", "j"),
    ("χ", "kh"),
)
_NON_LATIN = re.compile(r"[^\x00-\u024f\u1e00-\u1eff]")
_SPACE = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^a-z]+")

# Arabic words that are particles of a name, and the Latin particle they are.
_ARABIC_PARTICLES = {
    "بن": "bin",
    "ابن": "bin",
    "إبن": "bin",
    "بنت": "bint",
    "ابو": "abu",
    "أبو": "abu",
    "ابي": "abu",
    "أبي": "abu",
    "ام": "umm",
    "أم": "umm",
    "ال": "al",
}
_ABD = frozenset({"عبد"})
_ARABIC_ABD = re.compile(r"^[`']?bd(?:w?l)?$")
_KANA_ABD = re.compile(r"^abud[aeiou]*(?:r[aeiou]*)?$")
_TATWEEL = "\u0640"
_KANA_PH = re.compile("pu(?:f|h)")


def clean(text: str) -> str:
    """NFKC, without format characters (zero-width space/joiners, bidi marks, soft hyphen)."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def _abjad_word(word: str) -> str:
    """Consonants of an Arabic/Hebrew word in Latin letters, written vowel marks dropped."""
    word = "".join(c for c in word if unicodedata.category(c) != "Mn" and c != _TATWEEL)
    return _SPACE.sub("", anyascii(word)).lower()


def _greek(chunk: str) -> str:
    text = unicodedata.normalize("NFD", chunk.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    for a, b in _GREEK_DIGRAPHS:
        text = text.replace(a, b)
    return anyascii(text)


def _arabic(chunk: str, split_article: bool, last: bool) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    for word in chunk.split():
        word = "".join(c for c in word if unicodedata.category(c) != "Mn" and c != _TATWEEL)
        if word in _ARABIC_PARTICLES:
            out.append((_ARABIC_PARTICLES[word], False))
            continue
        if split_article and word.startswith("ال") and len(word) > 3:
            out.append(("al", False))
            word = word[2:]
        latin = _abjad_word(word)
        if _ARABIC_ABD.match(latin) and not last:
            out.append(("abd", False))  # ابدول / عبدل: Abdul, a particle as in Latin letters
            continue
        out.append((latin, True))
    return out


# Spaces, and the dots and equals signs kana write between the words of a foreign name.
_WORD_BREAK = re.compile("[\u30fb\uff65\u00b7\\s=]+")
_ARTICLES = ("ال", "ал", "Ал", "АЛ", "αλ", "Αλ", "ΑΛ", "アル", "アラ", "アリ", "アレ", "アロ")


def has_article(text: str) -> bool:
    """Whether a word in another script opens with what may be the Arabic article al- or
    part of a name: ال in Arabic letters (اليكسي is Alexei), ал/αλ/アル written onto the
    name in Cyrillic, Greek or kana (алтикрити: al-Tikriti, but Алексей)."""
    return any(w.startswith(_ARTICLES) and len(w) > 3 for w in _WORD_BREAK.split(text))


def _split_al(word: str) -> list[str]:
    """al + the name, for a transliterated word read as opening with the article."""
    if word.lower().startswith(("al", "ar")) and len(word) > 4:
        return [word[:2], word[2:]]
    return [word]


@lru_cache(maxsize=50_000)
def script_words(text: str, split_article: bool = True) -> tuple[tuple[str, bool], ...]:
    """The name as Latin text chunks, each with whether it is to be compared by its
    consonants only (read from Arabic, Hebrew or Japanese kana). Latin chunks are returned
    as written (accents and case are the tokeniser's business). `split_article` is the
    likelier reading of a word opening with al-: in Arabic letters the article and a name,
    in other scripts one name; without it, the other reading (see `has_article`)."""
    text = clean(text)
    if not _NON_LATIN.search(text):
        return ((text, False),)
    chunks = text.split()
    out: list[tuple[str, bool]] = []
    for i, chunk in enumerate(chunks):
        if chunk in _ABD and i + 1 < len(chunks):
            # عبد is the particle abd, as Abdul is in Latin letters (عبد الرحمن: abd rahman).
            out.append(("abd", False))
            rest = chunks[i + 1]
            if rest.startswith("ال") and len(rest) > 3:
                chunks[i + 1] = rest[2:]
            continue
        if _ARABIC.search(chunk):
            out.extend(_arabic(chunk, split_article, i == len(chunks) - 1))
        elif _KANA.search(chunk):
            # Kana add a vowel after every consonant (ユスフ yusufu): consonants only.
            for word in _WORD_BREAK.split(chunk):
                if word:
                    latin = _SPACE.sub("", anyascii(word)).lower()
                    # p then an h-row kana (プフ, プホ) is a name's ph written letter by letter.
                    latin = _KANA_PH.sub("ph", latin)
                    if _KANA_ABD.match(latin):
                        out.append(("abd", False))  # アブドゥル: Abdul
                        continue
                    if latin in ("aru", "ar"):
                        out.append(("al", False))  # アル: the article
                        continue
                    parts = [latin] if split_article else _split_al(latin)
                    out.extend((p, p not in ("al", "ar")) for p in parts)
        elif _GREEK.search(chunk):
            # Greek has no sh, ch or j of its own (written s, ts, tz): consonant classes only.
            latin = _NON_WORD.sub("", _greek(chunk).lower())
            parts = [latin] if split_article else _split_al(latin)
            out.extend((p, p not in ("al", "ar")) for p in parts if p)
        elif _HEBREW.search(chunk):
            out.append((_abjad_word(chunk), True))
        elif _HAN.search(chunk) or _HANGUL.search(chunk):
            # One syllable per character: pinyin / Revised Romanisation syllables.
            syllables = [anyascii(c) if (_HAN.match(c) or _HANGUL.match(c)) else c for c in chunk]
            out.append((" ".join(s for s in syllables if s.strip()), False))
        elif _NON_LATIN.search(chunk):
            latin = anyascii(chunk)
            out.append((latin if split_article else " ".join(_split_al(latin)), False))
        else:
            out.append((chunk, False))
    return tuple(out)
