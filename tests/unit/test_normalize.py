"""What a narrator says for what is written: a table of cases per language (pure)."""

from __future__ import annotations

import pytest

from services.spoken import normalize, roman_value

CASES = {
    "en": [
        ("It was 1984.", "It was nineteen eighty-four."),
        ("In 1066 and in 2005", "In ten sixty-six and in two thousand and five"),
        ("He had 3 apples and 1,000,000 reasons.", "He had three apples and one million reasons."),
        ("Pi is 3.14", "Pi is three point one four"),
        ("the 1st, 2nd, 3rd and 21st day", "the first, second, third and twenty-first day"),
        ("It cost $5.50, £3 or €20.", "It cost five dollars, fifty cents, three pounds or twenty euros."),
        ("$1 only", "one dollar only"),
        ("50% of them", "fifty percent of them"),
        ("at 10:30 a.m. and 7:05 pm and 6:00", "at ten thirty a m and seven oh five p m and six o'clock"),
        ("CHAPTER IV. The Rabbit", "CHAPTER four. The Rabbit"),
        ("Chapter XLII", "Chapter forty-two"),
        ("Henry VIII and Louis XIV met Henry V.", "Henry the Eighth and Louis the Fourteenth met Henry the Fifth."),
        ("Then I left, and Malcolm X stayed.", "Then I left, and Malcolm X stayed."),  # "I" and a lone X: words
        ("Mr. and Mrs. Smith met Dr. Watson.", "Mister and Missus Smith met Doctor Watson."),
        ("St. Paul's is not on Baker St.", "Saint Paul's is not on Baker Street"),
        ("e.g. this, i.e. that, etc.", "for example this, that is that, et cetera"),
        ("No. 7 and No more", "number 7 and No more".replace("7", "seven")),
        ("Saint Petersburgh, Dec. 11th, 17—. Sept. 1914, Jun. the cook", "Saint Petersburgh, December eleventh, "
         "seventeen—. September nineteen fourteen, Jun. the cook"),  # a month only before a date
        ("J. R. R. Tolkien and C. S. Lewis", "J R R Tolkien and C S Lewis"),
        ("nothing to say here", "nothing to say here"),
    ],
    "fr": [
        ("En 1984, il avait 3 pommes.", "En mille neuf cent quatre-vingt-quatre, il avait trois pommes."),
        ("1 000 000 d'habitants et 3,14", "un million d'habitants et trois virgule un quatre"),
        ("le 1er mai, la 1re fois, le 2e jour", "le premier mai, la première fois, le deuxième jour"),
        ("5,50 € et 20 €", "cinq euros et cinquante centimes et vingt euros"),
        ("50 % de plus", "cinquante pour cent de plus"),
        ("à 10h30 et à 1h", "à dix heures trente et à une heure"),
        ("Chapitre IV", "Chapitre quatre"),
        ("Louis XIV et François II", "Louis quatorze et François deux"),
        ("M. Homais et Mme Bovary, Mlle Rouault", "Monsieur Homais et Madame Bovary, Mademoiselle Rouault"),
        ("etc.", "et cetera"),
    ],
    "de": [
        ("Im Jahr 1984 hatte er 3 Äpfel.", "Im Jahr neunzehnhundertvierundachtzig hatte er drei Äpfel."),
        ("1.000.000 Einwohner und 3,14", "eine Million Einwohner und drei Komma eins vier"),
        ("5,50 € und 20 €", "fünf Euro und fünfzig Cent und zwanzig Euro"),
        ("50 % mehr", "fünfzig Prozent mehr"),
        ("um 10:30 Uhr und um 1 Uhr", "um zehn Uhr dreißig und um ein Uhr"),
        ("Kapitel IV", "Kapitel vier"),
        ("Ludwig XIV", "Ludwig der Vierzehnte"),
        ("Dr. Müller, z. B. Nr. 5 usw.", "Doktor Müller, zum Beispiel Nummer fünf und so weiter"),
    ],
    "cs": [  # no table here: num2words for the numbers only; "i" and "v" stay words
        ("V roce 1984 a i v 12 hodin.", "V roce tisíc devětset osmdesát čtyři a i v dvanáct hodin."),
    ],
}


@pytest.mark.parametrize(("language", "written", "spoken"),
                         [(lang, w, s) for lang, cases in CASES.items() for w, s in cases])
def test_spoken_forms(language: str, written: str, spoken: str) -> None:
    assert normalize(written, language) == spoken


def test_a_regional_tag_uses_its_language_and_an_unknown_one_changes_nothing() -> None:
    assert normalize("It was 1984.", "en-GB") == "It was nineteen eighty-four."
    assert normalize("Es war 1984.", "de-AT") == "Es war neunzehnhundertvierundachtzig."
    assert normalize("Mr. 42", "xx") == "Mr. 42", "a language nobody here knows: the voice reads it"


def test_roman_values() -> None:
    assert [roman_value(n) for n in ("I", "IV", "IX", "XIV", "XLII", "MCMLXXXIV")] == [1, 4, 9, 14, 42, 1984]
    assert roman_value("IIII") is None and roman_value("VX") is None and roman_value("") is None


def test_what_num2words_cannot_say_never_fails_a_book() -> None:
    for count in (400, 5000):  # (Python itself refuses to read 5,000 digits as one number)
        assert normalize("1" * count, "en") == " ".join(["one"] * count), "a serial is read digit by digit"
    assert normalize("$" + "9" * 40, "en").endswith(" dollars") and "9" not in normalize("$" + "9" * 40, "en")
    assert normalize("Chapter MMMMCM", "en") == "Chapter MMMMCM", "not a well-formed numeral: left as written"
