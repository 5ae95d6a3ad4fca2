"""The reader's lexicon: parsing, matching rules, per-language sections, and what an entry costs."""

import pytest

from events.audio import Pauses
from services.parse.book import Book, Chapter
from services.parse.lexicon import LexiconError, parse_lexicon, speaker_for
from services.parse.plan import plan_job
from services.voices import resolve_voice

LEXICON = """\
# my book's names
Hermione = Her-my-oh-nee
US = United States    # capitals: matched exactly
paris = Pah-ree
St. John = Saint Jon
St. = Street
[fr]
Nguyen = Nouyène
[fr-CA]
Nguyen = Nouyenne
[en]
Cthulhu = [[ kəθˈuːluː ]]
"""


def test_entries_are_read_with_their_sections() -> None:
    entries = parse_lexicon(LEXICON)
    assert [(e.language, e.word, e.spoken) for e in entries][:2] == [("", "Hermione", "Her-my-oh-nee"),
                                                                     ("", "US", "United States")]
    assert {e.language for e in entries} == {"", "fr", "fr-ca", "en"}


@pytest.mark.parametrize(("language", "text", "said"), [
    ("en", "Hermione met us in the US.", "Her-my-oh-nee met us in the United States."),
    ("en", "PARIS, Paris and paris.", "Pah-ree, Pah-ree and Pah-ree."),
    ("en", "St. John walked down St. Mary.", "Saint Jon walked down Street Mary."),
    ("en", "Hermiones and Cthulhu.", "Hermiones and [[ kəθˈuːluː ]]."),  # whole words only
    ("fr", "Nguyen et Cthulhu.", "Nouyène et Cthulhu."),  # the [en] section is not French
    ("fr-CA", "Nguyen.", "Nouyenne."),  # the region's entry wins over the language's
    ("de", "Nguyen.", "Nguyen."),
])
def test_entries_apply_per_language(language: str, text: str, said: str) -> None:
    assert speaker_for(parse_lexicon(LEXICON), language)(text) == said


@pytest.mark.parametrize(("text", "line"), [("Hermione Her-my-oh-nee", 1), ("ok = fine\n = nothing", 2),
                                            ("ok = fine\n\nword =", 3)])
def test_a_bad_line_is_named(text: str, line: int) -> None:
    with pytest.raises(LexiconError, match=f"lexicon line {line}"):
        parse_lexicon(text)


def _book() -> Book:
    return Book("T", "A", "en", (
        Chapter("Chapter 1", ("Chapter 1", "Hermione opened the door. It was late. Nobody came.",
                              "The house was silent for a long while. Then Hermione laughed.")),
        Chapter("Chapter 2", ("Chapter 2", "Rain fell on the town all night long.")),
    ))


def test_a_lexicon_entry_changes_only_the_segments_with_its_word() -> None:
    voice = resolve_voice("test", "short")
    plain = {job.cache_key: job for _, job in plan_job(_book(), "j", voice, 1.0, 400).jobs}
    entries = parse_lexicon("Hermione = Her-my-oh-nee")
    with_entry = {job.cache_key: job for _, job in plan_job(_book(), "j", voice, 1.0, 400, lexicon=entries).jobs}
    changed = [job for key, job in with_entry.items() if key not in plain]
    assert changed and all("Her-my-oh-nee" in " ".join(job.paragraphs) for job in changed)
    assert all("Hermione" in " ".join(plain[key].paragraphs) for key in plain if key not in with_entry)
    assert len(plain) == len(with_entry)


def test_chosen_pauses_reach_every_command_and_its_key() -> None:
    voice = resolve_voice("test", "short")
    default = plan_job(_book(), "j", voice, 1.0, 400).jobs
    slow = plan_job(_book(), "j", voice, 1.0, 400, pauses=Pauses(sentence=400, chapter=3000)).jobs
    assert all(job.sentence_pause_ms == 400 and job.paragraph_pause_ms == 650 for _, job in slow)
    assert slow[0][1].pause_after_ms == 1000  # the heading
    assert slow[-1][1].pause_after_ms == 3000
    assert not {job.cache_key for _, job in default} & {job.cache_key for _, job in slow}
