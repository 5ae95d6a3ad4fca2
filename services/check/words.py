"""What a listener compares: the words of a text, as spoken, in the book's language (pure).

Both sides of a check go through :func:`spoken_words`: the text the engine was given (already
read out by the parse stage: numbers, money, abbreviations as words) and what Whisper heard,
which writes numbers as digits ("1865", "3rd"). Digits become words the way the narrator said
them (a four-digit number from 1000 to 2099 as a year; thousands in groups, "1,000,000", as one
number; a decimal with its point), case and punctuation go, hyphens and apostrophes split or
join words the same way on both sides.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

NUMBER = re.compile(r"(\d+)(?:[.,](\d+))?(st|nd|rd|th|er|e|ème|\.)?", re.IGNORECASE)
# thousands written in groups: "1,000,000" in English, "1.000.000" or "1 000 000" elsewhere
THOUSANDS = {"en": re.compile(r"\b\d{1,3}(?:,\d{3})+\b")}
OTHER_THOUSANDS = re.compile(r"\b\d{1,3}(?:[.\u00a0\u202f ]\d{3})+\b")
NOT_WORD = re.compile(r"[^\w']+")
APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'"})


@lru_cache(maxsize=64)
def _code(language: str) -> str | None:
    """num2words' code for a BCP 47 tag ("en-US" -> "en"), or None where it has none."""
    from num2words import CONVERTER_CLASSES

    code = language.replace("-", "_")
    for candidate in (code, code.split("_")[0].lower()):
        if candidate in CONVERTER_CLASSES:
            return candidate
    return None


def _number(match: re.Match[str], code: str | None) -> str:
    whole, fraction, suffix = match.group(1), match.group(2), match.group(3) or ""
    if code is None or len(whole) > 15:
        return match.group(0)
    from num2words import num2words

    value = int(whole)
    try:
        if fraction is not None:
            return str(num2words(float(f"{whole}.{fraction}"), lang=code))
        if suffix and suffix != ".":
            return str(num2words(value, lang=code, to="ordinal"))
        if len(whole) == 4 and 1000 <= value <= 2099:
            return str(num2words(value, lang=code, to="year"))
        return str(num2words(value, lang=code))
    except (NotImplementedError, OverflowError, ValueError, TypeError):
        return match.group(0)


def spoken_words(text: str, language: str) -> list[str]:
    """The words of ``text`` as a narrator says them: lower case, numbers in words, no punctuation."""
    code = _code(language) if language else "en"
    text = unicodedata.normalize("NFKC", text).translate(APOSTROPHES)
    grouped = THOUSANDS.get((code or "en").split("_")[0], OTHER_THOUSANDS)
    text = grouped.sub(lambda m: re.sub(r"\D", "", m.group(0)), text)
    text = NUMBER.sub(lambda m: f" {_number(m, code)} ", text)
    out = []
    for word in NOT_WORD.sub(" ", text.replace("_", " ").lower()).split():
        word = word.strip("'")
        if word:
            out.append(word)
    return out
