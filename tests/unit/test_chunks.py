"""Text cut for engines with a per-call limit (XTTS): never truncated, cut at the gentlest boundary."""

from hypothesis import given
from hypothesis import strategies as st

from services.engines.chunks import fit


def test_short_text_is_one_piece() -> None:
    assert fit("Bonjour, le monde.", 250) == ["Bonjour, le monde."]
    assert fit("   ", 250) == []


def test_a_long_sentence_is_cut_at_clauses_then_words() -> None:
    sentence = ("Il était une fois, dans un pays lointain, un roi très vieux; ce roi avait trois filles: "
                "la première était sage, la deuxième était belle, et la troisième ne ressemblait à personne")
    pieces = fit(sentence, 60)
    assert all(len(p) <= 60 for p in pieces)
    assert " ".join(pieces) == sentence
    assert all(p[-1] in ",;:" for p in pieces[:-1]), pieces


def test_a_word_longer_than_the_limit_is_the_only_thing_cut_inside() -> None:
    assert fit("a" * 25, 10) == ["a" * 10, "a" * 10, "a" * 5]


@given(st.text(alphabet=st.sampled_from("abc ,;:."), max_size=400), st.integers(min_value=5, max_value=80))
def test_nothing_is_lost_and_no_piece_is_too_long(text: str, limit: int) -> None:
    pieces = fit(text, limit)
    assert all(0 < len(p) <= limit for p in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())
