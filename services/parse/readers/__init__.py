"""The format readers: one module per kind of book, each a file (or its bytes) in, a Book out (pure).

``services.parse.formats`` is their face: it tells which kind a file is and calls the reader for
it; nothing else in parse picks a reader. Shared here: ``archive`` (is a zip safe to open),
``xhtml`` (one XHTML document as readable blocks), ``drafts`` (chapters in the making) and
``repair`` (an EPUB's manifest mended). No reader talks to NATS (an import-linter contract
covers this whole package).
"""
