"""The matcher on a small hand-made list: variants found, negatives not, reasons given."""

from __future__ import annotations

from datetime import date

import pytest

from screening.engines.matcher import ScreeningIndex
from screening.engines.ofac import parse_bytes
from screening.policy import ScreeningConfig

SAMPLE = b"""\
3754,"ABU MARZOOK, Mousa Mohammed","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 09 Feb 1951; POB Gaza, Egypt; nationality Syria; a.k.a. 'ABU-'UMAR'."
2682,"ISLAMBOULI, Mohammad Shawqi","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 15 Jan 1955; POB Egypt."
4107,"RODRIGUEZ OREJUELA, Gilberto Jose","individual","SDNT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 31 Jan 1939; a.k.a. 'THE CHESS PLAYER'; a.k.a. 'LUCAS'."
9001,"LAVROV, Sergey Viktorovich","individual","RUSSIA-EO14024",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 21 Mar 1950; nationality Russia; Gender Male."
9002,"PETROV, Aleksandr Yuryevich","individual","RUSSIA-EO14024",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB circa 1970; nationality Russia."
306,"BANCO NACIONAL DE CUBA",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"a.k.a. 'BNC'."
173,"ANGLO-CARIBBEAN CO., LTD.",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-
9100,"OCEAN STAR","vessel","IRAN",-0- ,-0- ,"Crude Oil Tanker",-0- ,-0- ,"Iran",-0- ,"Vessel Registration Identification IMO 9999999."
"""


@pytest.fixture(scope="module")
def index() -> ScreeningIndex:
    return ScreeningIndex(parse_bytes(SAMPLE), version="TEST 2024-01-01")


def top(index: ScreeningIndex, name: str, **kw: object) -> tuple[int, float, tuple[str, ...]]:
    hits = index.match(name, **kw)  # type: ignore[arg-type]
    assert hits, f"no hit for {name!r}"
    return hits[0].ent_num, hits[0].score, hits[0].reasons


@pytest.mark.parametrize(
    ("query", "ent_num"),
    [
        ("Mousa Mohammed Abu Marzook", 3754),
        ("Musa Muhammad Abu Marzouk", 3754),  # transliteration
        ("MARZOOK, Mousa Abu", 3754),  # token order
        ("Mousa Abu Marzook", 3754),  # middle name dropped
        ("Mousa Abu Marzok", 3754),  # typo
        ("Mohamed Shawki Islambouli", 2682),
        ("Gilberto José Rodríguez Orejuela", 4107),  # accents
        ("Gilberto Rodriguez", 4107),  # middle and second family name dropped
        ("Sergei Lavrov", 4107 * 0 + 9001),
        ("Alexander Petrov", 9002),
        ("Dr. Aleksandr Yurievich Petrov", 9002),
        ("the chess player", 4107),  # alias
        ("Banco Nacional de Cuba S.A.", 306),
        ("Anglo Caribbean Company Limited", 173),
    ],
)
def test_variants_of_listed_names_are_found(
    index: ScreeningIndex, query: str, ent_num: int
) -> None:
    found, score, _ = top(index, query)
    assert found == ent_num
    assert 85 <= score <= 100


@pytest.mark.parametrize(
    "query",
    [
        "Mousa Smith",  # listed given name, unrelated family name
        "Sergey Ivanov",
        "Gilberto Gomez",
        "Banco Nacional de Mexico",
        "John Smith",
        "Lucas Martin",  # a weak alias inside a longer, different name
        "Caribbean Holdings",
    ],
)
def test_names_that_must_not_match(index: ScreeningIndex, query: str) -> None:
    assert index.match(query) == []


def test_weak_alias_matches_only_exactly(index: ScreeningIndex) -> None:
    found, _, reasons = top(index, "Lucas", kind="person")
    assert found == 4107
    assert "weak alias" in reasons[0]


def test_kind_filter_separates_people_from_organisations(index: ScreeningIndex) -> None:
    assert index.match("Ocean Star", kind="person") == []
    assert index.match("Ocean Star", kind="entity")[0].ent_num == 9100
    assert index.match("Sergey Lavrov", kind="entity") == []


def test_date_of_birth_and_nationality_raise_or_lower_the_score(index: ScreeningIndex) -> None:
    config = ScreeningConfig()
    _, plain, _ = top(index, "Sergei Lavrov")
    _, agree, reasons = top(
        index, "Sergei Lavrov", date_of_birth=date(1950, 3, 21), nationality="RU"
    )
    assert agree == min(100.0, plain + config.dob_match_bonus + config.nationality_match_bonus)
    assert any("date of birth 1950-03-21 agrees" in r for r in reasons)
    assert any("nationality RU agrees" in r for r in reasons)
    hits = index.match("Mousa Mohammed Abu Marzook", nationality="IR")
    assert hits[0].score == 100 - config.nationality_mismatch_penalty
    assert any("nationality IR differs from listed SY (-6)" in r for r in hits[0].reasons)
    assert index.match("Sergei Lavrov", date_of_birth=date(1990, 1, 1)) == []


def test_circa_birth_years_agree_within_a_year(index: ScreeningIndex) -> None:
    _, _, reasons = top(index, "Aleksandr Petrov", date_of_birth=date(1971, 6, 1))
    assert any("1971 agrees" in r for r in reasons)


def test_reasons_explain_the_match(index: ScreeningIndex) -> None:
    _, _, reasons = top(index, "Musa Mohamed Abu Marzouk")
    assert reasons[0] == "matched the listed name 'ABU MARZOOK, Mousa Mohammed'"
    assert "all 3 name tokens agree after normalising" in reasons[1]
    assert "'MOHAMED'→'MOHAMMED'" in reasons[1]
    _, _, dropped = top(index, "Mousa Abu Marzook")
    assert any("'MOHAMMED'" in r and "not in the query" in r for r in dropped)


def test_scores_are_rounded_and_hits_best_first(index: ScreeningIndex) -> None:
    hits = index.match("Petrov Aleksandr")
    assert all(h.score == round(h.score, 1) for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_dropped_middle_names_still_match_when_family_and_first_name_agree() -> None:
    row = (
        '6365,"BIN LADIN, Usama bin Muhammad bin Awad","individual","SDGT",-0- ,-0- ,-0- ,'
        '-0- ,-0- ,-0- ,-0- ,"DOB 30 Jul 1957; alt. DOB 1958; POB Jeddah, Saudi Arabia."\n'
    )
    index = ScreeningIndex(parse_bytes(row.encode()), version="TEST 2024-01-01")
    # Written the way people write it: without the middle names, in another spelling.
    for written in ("Usama Bin Ladin", "Osama bin Laden"):
        hits = index.match(written, kind="person")
        assert hits and hits[0].ent_num == 6365, written
    # The family name with another first name is not that person.
    assert index.match("Hamza Bin Ladin", kind="person") == []


@pytest.mark.parametrize(
    "query",
    ["Musa Muhammad Abu Marzouk", "Sergei Lavrov", "Banco Nacional de Cuba", "Lucas", "John"],
)
def test_candidate_keys_cover_every_hit_at_any_threshold(index: ScreeningIndex, query: str) -> None:
    keys = index.candidate_keys(query)
    hits = index.match(query, config=ScreeningConfig.model_construct(hit_threshold=0))
    assert {f"{h.list_name}:{h.reference}" for h in hits} <= keys
    assert index.candidate_keys(query, kind="entity") <= keys


def test_candidate_keys_name_only_the_entries_a_query_can_reach(index: ScreeningIndex) -> None:
    assert index.candidate_keys("Sergei Lavrov") == {"OFAC-SDN:9001"}
    assert index.candidate_keys("Sergei Lavrov", kind="entity") == set()
    assert index.candidate_keys("Zyxwvut Qqq") == set()


def test_other_scripts_and_lost_names_are_found() -> None:
    sample = parse_bytes(
        b"""6365,"BIN LADIN, Usama bin Muhammad bin Awad","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 30 Jul 1957."
7715,"KUBURA, Amir","individual","BALKANS",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-
24682,"HIENG, Hing Bun","individual","CAMBODIA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-
4107,"RODRIGUEZ OREJUELA, Gilberto Jose","individual","SDNT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-
9100,"DERIPASKA, Oleg Vladimirovich","individual","RUSSIA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-
"""
    )
    index = ScreeningIndex(sample)
    for query, ent_num in [
        ("Олег Владимирович Дерипаска", 9100),
        ("أسامة بن لادن", 6365),
        ("U\u200bsama bin La\u200bdin", 6365),
        ("Amir Kubura", 7715),
        ("Dr Amir Kubura", 7715),
        ("Hing HIENG", 24682),
        ("Gilberto Orejuela", 4107),  # the first of two family names left out
    ]:
        hits = index.match(query)
        assert hits and hits[0].ent_num == ent_num, query
        assert hits[0].score >= 85, (query, hits[0].score)


def _one(row: str) -> ScreeningIndex:
    return ScreeningIndex(parse_bytes(row.encode()))


def test_a_short_family_name_in_kana_or_greek_agrees_with_the_listed_one() -> None:
    # ル (Lu) and アティア (Atia) have one consonant: they find no candidates themselves,
    # but once the given name finds the entry they are its family name.
    index = ScreeningIndex(
        parse_bytes(
            b"""13001,"LU, Xinning","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-
13002,"ATIA, Hachim","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-
"""
        )
    )
    for query, ent_num in [("クシニグ・ル", 13001), ("ハチム・アティア", 13002)]:
        hits = index.match(query, kind="person")
        assert hits and hits[0].ent_num == ent_num, query
    # A short word alone is still no family name for a different given name.
    assert index.match("ペテル・ル", kind="person") == []


def test_kana_article_after_a_middle_dot_is_read_both_ways() -> None:
    index = _one(
        '14001,"AL-MADANI, Yusuf","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-\n'
    )
    hits = index.match("ユスフ・アルマダニ", kind="person")
    assert hits and hits[0].ent_num == 14001


def test_a_listed_title_that_is_also_a_given_name_is_indexed_as_the_first_name() -> None:
    # "Sayyid" opens the listed given names: a query keeping it and dropping the rest
    # is that person written short; the listed name without it still matches as before.
    index = _one(
        '15001,"AL-HASHIMI, Sayyid Salah Mahdi","individual","SDGT",'
        "-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-\n"
    )
    for query in ("Sayyid AL-HASHIMI", "Salah Mahdi AL-HASHIMI"):
        hits = index.match(query, kind="person")
        assert hits and hits[0].ent_num == 15001, query
    assert index.match("Sayyid AL-HASHIMI", kind="person")[0].matched_name == (
        "AL-HASHIMI, Sayyid Salah Mahdi"
    )


def test_kana_article_written_into_the_next_vowel_is_read_as_al() -> None:
    # アラザウィ: al-Azzawi, the l written with the name's first vowel (ラ).
    index = _one(
        '16001,"AL-AZZAWI, Hikmat Mizban","individual","SDGT",'
        "-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-\n"
    )
    hits = index.match("ヒクマト・ミズバン・アラザウィ", kind="person")
    assert hits and hits[0].ent_num == 16001


def test_kana_ji_is_also_read_zi() -> None:
    index = ScreeningIndex(
        parse_bytes(
            b"""17001,"TIZINI, Nabil","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-
17002,"JINI, Nabil","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-
"""
        )
    )
    assert [h.ent_num for h in index.match("ナビル・ティジニ", kind="person")] == [17001]
    assert index.match("ナビル・ジニ", kind="person")[0].ent_num == 17002
    # ジョ is only jo.
    assert "TIZINI" not in {h.listed_name for h in index.match("ナビル・ティジョニ")}
    assert index.candidate_keys("ナビル・ティジニ") >= {"OFAC-SDN:17001"}


def test_a_slip_that_breaks_a_digraph_is_one_slip() -> None:
    # boucher/bodcher: skeletons bucher/bodcher are two apart, the letters one.
    index = ScreeningIndex(
        parse_bytes(
            b"""18001,"BOUCHER, Rick","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-
18002,"SHAMKHANI, Ali","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-
"""
        )
    )
    for query, ent_num in [("Rick Bodcher", 18001), ("Ali SHAMKAHNI", 18002)]:
        hits = index.match(query, kind="person")
        assert hits and hits[0].ent_num == ent_num, query
        assert index.match(query, kind="person", exhaustive=True)[0].score == hits[0].score
