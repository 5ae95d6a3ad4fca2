"""What a narrator says for what is written (pure): numbers, money, percentages, times, ordinals,
years, Roman numerals in headings and regnal names, common abbreviations and initials.

Applied to each segment's text after sentence splitting (so segment boundaries depend only on the
book's text, never on these rules), in the language the segment is read in. Numbers become words
with ``num2words`` in every language it knows; the rest has a table per language here (English,
French, German). A language with no table keeps its abbreviations and numerals for the voice's
own phonemizer; a language ``num2words`` does not know keeps its digits too.

Guarded on purpose: a lone ``I`` is never a numeral (English "I"), lowercase letters never are
(Czech and Slovak "i", "v"), a Roman numeral counts only after a heading word ("Chapter IV") or
after a capitalized name when it is ``V`` or at least two letters of I, V and X ("Henry VIII",
not "Malcolm X"), and an initial loses its period only in a run of two or more ("J. R. R.").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, partial

from num2words import CONVERTER_CLASSES, num2words

from events.audio import decoration

ROMAN = re.compile(r"^M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})$")
ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
CURRENCIES = {"$": "USD", "€": "EUR", "£": "GBP"}


@dataclass(frozen=True)
class Language:
    """One language's spoken forms (what num2words does not know)."""

    code: str
    abbreviations: tuple[tuple[str, str], ...] = ()  # regex -> spoken form, applied in order
    headings: tuple[str, ...] = ()  # words after which a Roman numeral is a number
    regnal: Callable[[int, str], str] | None = None  # (number, language) -> "the Eighth" / "quatorze"
    thousands: str = ","  # the separator inside "1,000,000"
    decimal: str = "."
    percent: str = ""
    ordinal: re.Pattern[str] | None = None  # digits + suffix; group 1 the number, group 2 the suffix
    feminine_first: tuple[str, ...] = ()  # ordinal suffixes of a feminine "first" (French 1re)
    times: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], str], str]], ...] = ()
    units: dict[str, tuple[str, str]] = field(default_factory=dict)  # currency -> (one, many)


def roman_value(numeral: str) -> int | None:
    """The value of an uppercase Roman numeral, or None if it is not a well-formed one."""
    if not numeral or not ROMAN.match(numeral):
        return None
    total = 0
    for here, after in zip(numeral, [*numeral[1:], ""], strict=True):
        value = ROMAN_VALUES[here]
        total += -value if after and ROMAN_VALUES[after] > value else value
    return total


LONGEST = 15  # digits read as one number; a longer run (a serial, an ISBN) is read digit by digit


def words(number: float | int, code: str, to: str = "cardinal") -> str:
    """``number`` in words; never fails a book: what num2words cannot say stays as written."""
    whole = str(int(abs(number)))
    try:
        if len(whole) > LONGEST and to == "cardinal" and isinstance(number, int):
            return " ".join(str(num2words(int(digit), lang=code)) for digit in whole)
        return str(num2words(number, lang=code, to=to))
    except Exception:  # num2words raises what it likes (OverflowError, NotImplementedError ...)
        return str(number)


def _en_regnal(number: int, code: str) -> str:
    return "the " + words(number, code, "ordinal").capitalize()


def _de_regnal(number: int, code: str) -> str:
    return "der " + words(number, code, "ordinal").capitalize()


def _fr_regnal(number: int, code: str) -> str:
    return "premier" if number == 1 else words(number, code)


def _en_time(match: re.Match[str], code: str) -> str:
    hour, minute, meridiem = int(match["h"]), int(match["m"]), match["ampm"]
    spoken = words(hour, code)
    if minute == 0:
        spoken += "" if meridiem else " o'clock"
    elif minute < 10:
        spoken += " oh " + words(minute, code)
    else:
        spoken += " " + words(minute, code)
    if meridiem:
        spoken += " " + " ".join(meridiem.replace(".", "").lower())
    return spoken


def _fr_time(match: re.Match[str], code: str) -> str:
    hour = int(match["h"])
    spoken = ("une" if hour == 1 else words(hour, code)) + (" heure" if hour == 1 else " heures")
    return spoken + (" " + words(int(match["m"]), code) if match["m"] and int(match["m"]) else "")


def _de_time(match: re.Match[str], code: str) -> str:
    hour = int(match["h"])
    spoken = ("ein" if hour == 1 else words(hour, code)) + " Uhr"
    return spoken + (" " + words(int(match["m"]), code) if match["m"] and int(match["m"]) else "")


def _abbreviations(*pairs: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return pairs


def _months(**written: str) -> tuple[tuple[str, str], ...]:
    """A month's abbreviation before a day or a year ("Dec. 11th", "Aug. 1914"): elsewhere "Mar." or
    "Jun." may be a name or a word."""
    return tuple((rf"\b{short}\.(?=\s*\d)", month) for month, short in written.items())


LANGUAGES: dict[str, Language] = {
    "en": Language(
        "en",
        abbreviations=_abbreviations(
            (r"\bMrs\.", "Missus"), (r"\bMr\.", "Mister"), (r"\bMs\.", "Miz"), (r"\bDr\.", "Doctor"),
            (r"\bProf\.", "Professor"), (r"\bCapt\.", "Captain"), (r"\bCol\.", "Colonel"), (r"\bGen\.", "General"),
            (r"\bLt\.", "Lieutenant"), (r"\bSgt\.", "Sergeant"), (r"\bRev\.", "Reverend"), (r"\bJr\.", "Junior"),
            (r"\bSr\.", "Senior"), (r"\bSt\.(?=\s+[A-Z])", "Saint"), (r"\bSt\.", "Street"), (r"\bvs\.", "versus"),
            (r"\betc\.", "et cetera"), (r"\be\.g\.", "for example"), (r"\bi\.e\.", "that is"),
            (r"\bNo\.(?=\s*\d)", "number"), (r"\bapprox\.", "approximately"), *_months(
                January="Jan", February="Feb", March="Mar", April="Apr", June="Jun", July="Jul", August="Aug",
                September="Sept?", October="Oct", November="Nov", December="Dec")),
        headings=("Chapter", "CHAPTER", "Part", "PART", "Book", "BOOK", "Volume", "VOLUME", "Act", "ACT", "Scene",
                  "SCENE", "Canto", "CANTO", "Letter", "LETTER", "Section", "SECTION", "Stave", "STAVE"),
        regnal=_en_regnal, percent="percent",
        ordinal=re.compile(r"\b(\d+)(st|nd|rd|th)\b"),
        times=((re.compile(r"\b(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?:\s?(?P<ampm>[ap]\.?m\.?)(?!\w))?",
                           re.IGNORECASE), _en_time),),
        units={"USD": ("dollar", "dollars"), "EUR": ("euro", "euros"), "GBP": ("pound", "pounds")},
    ),
    "fr": Language(
        "fr",
        abbreviations=_abbreviations(
            (r"\bMM\.(?=\s+[A-ZÀ-Ý])", "Messieurs"), (r"\bM\.(?=\s+[A-ZÀ-Ý])", "Monsieur"),
            (r"\bMmes\b", "Mesdames"), (r"\bMme\b", "Madame"), (r"\bMlles\b", "Mesdemoiselles"),
            (r"\bMlle\b", "Mademoiselle"), (r"\bDr\b\.?", "Docteur"), (r"\bMe(?=\s+[A-ZÀ-Ý])", "Maître"),
            (r"\bSte\b\.?(?=[\s-]+[A-ZÀ-Ý])", "Sainte"), (r"\bSt\b\.?(?=[\s-]+[A-ZÀ-Ý])", "Saint"),
            (r"\betc\.", "et cetera"), (r"\bn°\s*(?=\d)", "numéro "), (r"\bp\. ex\.", "par exemple"),
            (r"\bc\.-à-d\.", "c'est-à-dire")),
        headings=("Chapitre", "CHAPITRE", "Livre", "LIVRE", "Partie", "PARTIE", "Tome", "TOME", "Acte", "ACTE",
                  "Scène", "SCÈNE"),
        regnal=_fr_regnal, thousands="\u202f\u00a0 ", decimal=",", percent="pour cent",
        ordinal=re.compile(r"\b(\d+)(ers?|res?|ères?|es|e|èmes?)\b"), feminine_first=("re", "res", "ère", "ères"),
        times=((re.compile(r"\b(?P<h>[01]?\d|2[0-3])\s?h\s?(?P<m>[0-5]\d)?\b"), _fr_time),),
        units={"USD": ("dollar", "dollars"), "EUR": ("euro", "euros"), "GBP": ("livre", "livres")},
    ),
    "de": Language(
        "de",
        abbreviations=_abbreviations(
            (r"\bDr\.", "Doktor"), (r"\bProf\.", "Professor"), (r"\bHr\.", "Herr"), (r"\bFr\.(?=\s+[A-ZÄÖÜ])", "Frau"),
            (r"\bz\.\s?B\.", "zum Beispiel"), (r"\bd\.\s?h\.", "das heißt"), (r"\busw\.", "und so weiter"),
            (r"\bbzw\.", "beziehungsweise"), (r"\bca\.", "circa"), (r"\bNr\.", "Nummer"),
            (r"\bu\.\s?a\.", "unter anderem"), (r"\bSt\.(?=\s+[A-ZÄÖÜ])", "Sankt")),
        headings=("Kapitel", "KAPITEL", "Teil", "TEIL", "Buch", "BUCH", "Band", "BAND", "Akt", "AKT", "Szene",
                  "SZENE"),
        regnal=_de_regnal, thousands=".", decimal=",", percent="Prozent",
        times=((re.compile(r"\b(?P<h>[01]?\d|2[0-3])(?:[:.](?P<m>[0-5]\d))?\s?Uhr\b"), _de_time),),
        units={"USD": ("Dollar", "Dollar"), "EUR": ("Euro", "Euro"), "GBP": ("Pfund", "Pfund")},
    ),
}


@lru_cache(maxsize=64)
def _rules(language: str) -> tuple[Language | None, str | None]:
    """This language's table (None: none here) and its num2words code (None: it does not know it)."""
    tag = language.replace("_", "-").lower()
    primary = tag.split("-")[0]
    code = next((c for c in (tag.replace("-", "_"), primary) if c in CONVERTER_CLASSES), None)
    return LANGUAGES.get(primary), code


def _number_pattern(table: Language | None) -> re.Pattern[str]:
    thousands = re.escape(table.thousands if table else ",")
    decimal = re.escape(table.decimal if table else ".")
    return re.compile(rf"(?<![\w.,])(\d{{1,3}}(?:[{thousands}]\d{{3}})+|\d+)(?:{decimal}(\d+))?(?![\w]|[.,]\d)")


def _value(whole: str, fraction: str | None) -> int | float:
    digits = re.sub(r"\D", "", whole)[-4000:]  # (Python refuses to read longer digit strings as one int)
    fraction = fraction[:LONGEST] if fraction else fraction
    return float(f"{digits}.{fraction}") if fraction else int(digits)


def numbered_heading(text: str, language: str) -> str:
    """A heading that is only a number ("I.", "XII", "3") as the narrator says it ("One.", "Twelve"):
    a lone "I" read as the word "I" would not announce the chapter."""
    bare = text.strip()
    numeral = bare.rstrip(".")
    value = roman_value(numeral) if numeral.isalpha() else (int(numeral) if numeral.isdigit() else None)
    _, code = _rules(language)
    if value is None or code is None or len(numeral) > 7:
        return text
    return words(value, code).capitalize() + bare[len(numeral):]


def without_ornaments(text: str) -> str:
    """``text`` without the ornaments that stand apart in it (``* * *``, ``~``, ``•``): not read."""
    if all(ch.isalnum() or ch.isspace() for ch in text):
        return text
    kept = [token for token in text.split(" ") if not decoration(token)]
    return " ".join(token for token in kept if token) if len(kept) < len(text.split(" ")) else text


# "J. R. R. Tolkien": a run of initials before a name, tried from its first initial only (from each of them, a
# run of thousands took quadratic time)
INITIALS = re.compile(r"(?<!\b[A-Z]\.)(?<!\b[A-Z]\.\s)\b(?:[A-Z]\.\s?){2,}(?=[A-Z][a-z])")


def normalize(text: str, language: str) -> str:
    """``text`` as a narrator reads it in ``language`` (a BCP 47 tag); unchanged where nothing applies."""
    text = without_ornaments(text)
    table, code = _rules(language)
    if table is not None:
        for pattern, spoken in table.abbreviations:
            text = re.sub(pattern, spoken, text)
        text = INITIALS.sub(lambda m: " ".join(m.group(0).replace(".", " ").split()) + " ", text)
        text = _romans(text, table, code)
    if code is None:
        return text
    number = _number_pattern(table)
    if table is not None:
        for clock, say in table.times:
            text = clock.sub(partial(_spoken_time, say=say, code=code), text)
        text = _money(text, table, code, number.pattern)
        if table.percent:
            text = re.sub(number.pattern + r"\s?%", lambda m: f"{_say(m, code)} {table.percent}", text)
        if table.ordinal is not None:
            text = table.ordinal.sub(lambda m: _ordinal(m, table, code), text)
    return number.sub(lambda m: _say(m, code, year=table is not None), text)


def _spoken_time(match: re.Match[str], say: Callable[[re.Match[str], str], str], code: str) -> str:
    return say(match, code)


def _say(match: re.Match[str], code: str, year: bool = False) -> str:
    whole, fraction = match.group(1), match.group(2)
    if len(whole) > LONGEST or len(fraction or "") > LONGEST:  # a serial number, not a quantity: each digit
        return " ".join(words(int(digit), code) for digit in re.sub(r"\D", "", whole + (fraction or "")))
    value = _value(whole, fraction)
    if year and isinstance(value, int) and whole.isdigit() and len(whole) == 4 and 1000 <= value <= 2099:
        return words(value, code, "year")  # 1984, "in 1066", "1500 soldiers": read as a year is
    return words(value, code)


def _ordinal(match: re.Match[str], table: Language, code: str) -> str:
    number, suffix = int(match.group(1)), match.group(2)
    if number == 1 and suffix in table.feminine_first:
        return "première" + ("s" if suffix.endswith("s") else "")
    return words(number, code, "ordinal")


def _money(text: str, table: Language, code: str, number: str) -> str:
    symbols = "".join(re.escape(s) for s in CURRENCIES)

    def say(symbol: str, whole: str, fraction: str | None) -> str:
        currency = CURRENCIES[symbol]
        value = _value(whole, fraction)
        if isinstance(value, float) and fraction and len(fraction) == 2:
            try:
                return str(num2words(value, lang=code, to="currency", currency=currency))
            except Exception:  # see words()
                return f"{words(value, code)} {table.units[currency][1]}"
        one, many = table.units[currency]
        return f"{words(value, code)} {one if value == 1 else many}"

    text = re.sub(rf"([{symbols}])\s?{number}", lambda m: say(m.group(1), m.group(2), m.group(3)), text)
    return re.sub(rf"{number}\s?([{symbols}])", lambda m: say(m.group(3), m.group(1), m.group(2)), text)


def _romans(text: str, table: Language, code: str | None) -> str:
    """Roman numerals after heading words ("Chapter IV" -> four) and in regnal names ("Henry VIII")."""
    if code is None:
        return text
    if table.headings:
        heads = "|".join(table.headings)

        def heading(match: re.Match[str]) -> str:
            value = roman_value(match.group(2))
            return match.group(0) if value is None else f"{match.group(1)} {words(value, code)}"

        text = re.sub(rf"\b({heads})\s+([IVXLCDM]+)\b(?!['’]\w)", heading, text)
    if table.regnal is not None:
        regnal = table.regnal

        def name(match: re.Match[str]) -> str:
            numeral = match.group(2)
            value = roman_value(numeral)
            if value is None or match.group(1) in table.headings or (len(numeral) < 2 and numeral != "V"):
                return match.group(0)
            return f"{match.group(1)} {regnal(value, code)}"

        text = re.sub(r"\b([A-ZÀ-Ý][a-zà-ÿ]+)\s+([IVX]{1,6})\b(?!['’]\w)", name, text)
    return text
