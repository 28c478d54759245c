"""runid.py: ids sort by time, decode their time, abbreviate like git's object ids."""
from __future__ import annotations

from gitruns import runid


def test_new_id_shape_and_time() -> None:
    rid = runid.new_id(1_700_000_000_123)
    assert len(rid) == runid.ID_LENGTH == 26 and runid.is_valid(rid)
    assert set(rid) <= set(runid.ALPHABET) and not set(rid) & set("ilou")
    assert runid.timestamp_ms(rid) == 1_700_000_000_123
    assert rid[:10] == runid.new_id(1_700_000_000_123)[:10]  # the time part is the same
    assert rid != runid.new_id(1_700_000_000_123)  # 80 random bits follow


def test_ids_sort_by_creation_time() -> None:
    times = [0, 1, 999, 1_000, 1_600_000_000_000, 1_700_000_000_000, 2**48 - 1]
    ids = [runid.new_id(t) for t in times]
    assert sorted(ids) == ids
    assert [runid.timestamp_ms(i) for i in ids] == times
    assert runid.new_id(0).startswith("0000000000")


def test_is_valid() -> None:
    good = runid.new_id(1)
    assert runid.is_valid(good)
    assert not runid.is_valid(good[:-1])
    assert not runid.is_valid(good + "0")
    assert not runid.is_valid(good.upper())
    assert not runid.is_valid("u" + good[1:])  # not in Crockford's alphabet
    assert not runid.is_valid("../" + good[3:])


def test_normalize_prefix_maps_look_alikes() -> None:
    assert runid.normalize_prefix("  01HQ ") == "01hq"
    assert runid.normalize_prefix("OIL") == "011"
    assert runid.normalize_prefix("o1l") == "011"


def test_abbreviations_are_unique_and_at_least_eight() -> None:
    a = "01hq0000000000000000000000"
    b = "01hq0000000000000000000001"
    c = "01hq0000001230000000000000"
    d = "7zzzzzzzzzzzzzzzzzzzzzzzzz"
    short = runid.abbreviations([d, b, a, c])
    assert short == {a: a, b: b, c: "01hq0000001", d: "7zzzzzzz"}
    assert runid.abbreviations([d]) == {d: d[:runid.MIN_ABBREV]}
    assert runid.abbreviations([]) == {}
