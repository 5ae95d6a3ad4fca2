"""Put each sentence of a book in a ``<span id>`` of its own, in the book's own XHTML (pure).

The read-along EPUB keeps the reader's book as it is; only spans are added, so a reading system
can highlight the sentence being said. A document's readable text is gathered as the reader
(:mod:`services.parse.readers.xhtml`) gathers it, the same markup skipped and the same spaces
between blocks, with each character's place in the tree. Each sentence, in reading order, is
found from where the last one ended; the characters it covers are wrapped in a span. A sentence
that runs across inline markup (``A <i>quiet</i> day.``) is wrapped with the markup inside its
span; one that begins inside an element and ends outside it (``<i>Go. Now</i> he said.``) gets
its span on the part within its first run of text. A sentence not found (the reader mended its
text) gets no span: its audio plays on, nothing is highlighted. Marking never fails a book.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lxml import etree

from services.parse.readers.xhtml import BLOCK_TAGS, INVISIBLE, SPACE, _local, _skipped, named_entities_as_numbers

XHTML_NS = "http://www.w3.org/1999/xhtml"
NEAR_CHARS = 20_000  # a short sentence is looked for this far past the last one found
LONG_SENTENCE = 40  # one at least this long is unique enough to be looked for anywhere after it


@dataclass(frozen=True)
class Sentence:
    """A sentence to mark: the id its span gets and its text as the book wrote it."""

    id: str
    text: str


@dataclass
class Marked:
    """What marking did: each document's new bytes (only those with spans), the id -> document of
    each sentence marked, and how many were marked only in part or not at all."""

    documents: dict[str, bytes]
    placed: dict[str, str]
    partial: int = 0
    missing: int = 0


class _Readable:
    """The readable text of some documents, spaces collapsed, each character's place in a tree:
    (document, run of text, offset). A run is an element's ``text`` or its ``tail``."""

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.doc, self.run, self.offset = array("i"), array("i"), array("i")
        self.runs: list[tuple[etree._Element, bool]] = []  # (element, is its tail)
        self.document = 0

    def space(self) -> None:
        """A space no character stands for (between blocks, for ``<br>``, between documents)."""
        if self.chars and self.chars[-1] != " ":
            self._add(" ", -1, 0)

    def text(self, element: etree._Element, tail: bool) -> None:
        value = element.tail if tail else element.text
        if not value:
            return
        run = len(self.runs)
        self.runs.append((element, tail))
        for offset, char in enumerate(value):
            if char.isspace():
                if self.chars and self.chars[-1] != " ":
                    self._add(" ", run, offset)
            elif not INVISIBLE.match(char):
                self._add(char, run, offset)

    def _add(self, char: str, run: int, offset: int) -> None:
        self.chars.append(char)
        self.doc.append(self.document)
        self.run.append(run)
        self.offset.append(offset)

    def walk(self, element: etree._Element) -> None:
        """As the reader walks a document (``_Flattener.walk``): the same text, the same spaces."""
        tag = _local(element.tag)
        if not tag or _skipped(element, tag):
            return
        block = tag in BLOCK_TAGS
        if block or tag == "br":
            self.space()
        self.text(element, False)
        for child in element:
            self.walk(child)
            self.text(child, True)
        if block:
            self.space()


def _normal(text: str) -> str:
    return SPACE.sub(" ", INVISIBLE.sub("", text)).strip()


def _parse(content: bytes) -> etree._Element | None:
    """A well-formed XHTML document's root; None for anything a strict parser refuses (it is left as it is)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=False)
    try:
        root = etree.fromstring(named_entities_as_numbers(content), parser=parser)
    except etree.XMLSyntaxError:
        return None
    return root if root is not None and root.tag == f"{{{XHTML_NS}}}html" else None


def find_sentences(text: str, sentences: Sequence[Sentence]) -> list[tuple[int, int] | None]:
    """Where each sentence lies in ``text`` (a readable text, spaces collapsed), in order: each is
    looked for from the end of the last one found, nearby, or anywhere after it if it is long."""
    found: list[tuple[int, int] | None] = []
    cursor = 0
    for sentence in sentences:
        wanted = _normal(sentence.text)
        if not wanted:
            found.append(None)
            continue
        at = text.find(wanted, cursor, cursor + NEAR_CHARS + len(wanted))
        if at < 0 and len(wanted) >= LONG_SENTENCE:
            at = text.find(wanted, cursor)
        if at < 0:
            found.append(None)
            continue
        found.append((at, at + len(wanted)))
        cursor = at + len(wanted)
    return found


def mark_documents(documents: Sequence[tuple[str, bytes]], sentences: Sequence[Sentence]) -> Marked:
    """Wrap each sentence found in the reading order's ``documents`` (name, bytes) in a span."""
    readable = _Readable()
    roots: list[etree._Element | None] = []
    for number, (_, content) in enumerate(documents):
        root = _parse(content)
        roots.append(root)
        readable.document = number
        readable.space()
        if root is not None:
            body = next((el for el in root.iter() if _local(el.tag) == "body"), root)
            readable.walk(body)
    text = "".join(readable.chars)
    marked = Marked(documents={}, placed={})
    spans = []
    for sentence, where in zip(sentences, find_sentences(text, sentences), strict=True):
        if where is None:
            marked.missing += bool(_normal(sentence.text))
            continue
        first, last = where[0], where[1] - 1
        if readable.doc[first] != readable.doc[last]:
            marked.missing += 1
            continue
        spans.append((sentence.id, readable.doc[first], (readable.run[first], readable.offset[first]),
                      (readable.run[last], readable.offset[last] + 1)))
    touched: set[int] = set()
    for span_id, document, start, end in reversed(spans):  # last first: a wrap moves only what follows it
        whole = _wrap(span_id, readable.runs[start[0]], start[1], readable.runs[end[0]], end[1])
        marked.partial += not whole
        marked.placed[span_id] = documents[document][0]
        touched.add(document)
    for document in sorted(touched):
        root = roots[document]
        assert root is not None
        marked.documents[documents[document][0]] = etree.tostring(root.getroottree(), encoding="utf-8",
                                                                  xml_declaration=True)
    return marked


# -- wrapping: a place in the tree is (container, slot, offset); slot 0 is the container's text,
# slot k its child k-1's tail

Place = tuple[etree._Element, int, int]


def _place(run: tuple[etree._Element, bool], offset: int) -> Place:
    element, tail = run
    if not tail:
        return element, 0, offset
    parent = element.getparent()
    assert parent is not None
    return parent, parent.index(element) + 1, offset


def _slot(container: etree._Element, slot: int) -> str:
    return (container.text if slot == 0 else container[slot - 1].tail) or ""


def _set_slot(container: etree._Element, slot: int, value: str) -> None:
    if slot == 0:
        container.text = value or None
    else:
        container[slot - 1].tail = value or None


def _inline(element: etree._Element) -> bool:
    return _local(element.tag) not in BLOCK_TAGS and element.getparent() is not None


def _lift_start(place: Place) -> Place | None:
    """The same place, one level up, if it is the very start of an inline element."""
    container, slot, offset = place
    if slot != 0 or offset != 0 or not _inline(container):
        return None
    parent = container.getparent()
    assert parent is not None
    index = parent.index(container)
    return parent, index, len(_slot(parent, index))


def _lift_end(place: Place) -> Place | None:
    """The same place, one level up, if it is the very end of an inline element."""
    container, slot, offset = place
    if slot != len(container) or offset != len(_slot(container, slot)) or not _inline(container):
        return None
    parent = container.getparent()
    assert parent is not None
    return parent, parent.index(container) + 1, 0


def _depth(element: etree._Element) -> int:
    return sum(1 for _ in element.iterancestors())


def _common(start: Place, end: Place) -> tuple[Place, Place] | None:
    """The two places raised to one container, or None where the markup does not allow it."""
    while start[0] is not end[0]:
        deeper_start = _depth(start[0]) >= _depth(end[0])
        lifted = (_lift_start(start) if deeper_start else _lift_end(end))
        if lifted is None:
            return None
        start, end = (lifted, end) if deeper_start else (start, lifted)
    return start, end


def _blocks_within(elements: Iterable[etree._Element]) -> bool:
    return any(_local(inner.tag) in BLOCK_TAGS for element in elements for inner in element.iter())


def _span(container: etree._Element, span_id: str) -> etree._Element:
    namespace = etree.QName(container).namespace
    span = etree.Element(f"{{{namespace}}}span" if namespace else "span", nsmap=None)
    span.set("id", span_id)
    return span


def _wrap(span_id: str, first: tuple[etree._Element, bool], start: int,
          last: tuple[etree._Element, bool], end: int) -> bool:
    """Wrap the text from ``start`` in run ``first`` to ``end`` in run ``last`` in a span; False if
    the markup allowed wrapping only its part in the first run."""
    raised = _common(_place(first, start), _place(last, end))
    whole = raised is not None
    if raised is None:
        place = _place(first, start)
        raised = place, (place[0], place[1], len(_slot(place[0], place[1])))
    (container, slot, offset), (_, end_slot, end_offset) = raised
    moved = list(container[slot:end_slot])
    if _blocks_within(moved):  # never a paragraph inside a span: only the first run is wrapped
        whole, moved, end_slot, end_offset = False, [], slot, len(_slot(container, slot))
    span = _span(container, span_id)
    before = _slot(container, slot)
    if end_slot == slot:
        span.text, span.tail = before[offset:end_offset] or None, before[end_offset:] or None
    else:
        after = _slot(container, end_slot)
        span.text, span.tail = before[offset:] or None, after[end_offset:] or None
        moved[-1].tail = after[:end_offset] or None
    _set_slot(container, slot, before[:offset])
    for element in moved:
        span.append(element)  # (its tail goes with it)
    container.insert(slot, span)
    return whole

