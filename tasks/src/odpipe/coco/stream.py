"""Parse a large COCO file without holding it: the top-level object is read key by key, and each element of
a top-level list is decoded on its own (the standard library's C scanner, one element at a time) and
handed to a sink, so the file's text and its annotation dicts never all sit in memory at once.

Errors read as `odpipe.coco.load.read_json`'s do: truncated vs. not JSON, with line and column.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

from odpipe.common.errors import InputError

CHUNK = 1 << 22
_WS = " \t\n\r"
_MARGIN = 64
_BATCH_MIN = 1 << 16  # below this, one element at a time costs as little


class _NeedMore(Exception):
    pass


class Sink(Protocol):
    """Where the elements of a streamed list go: one at a time, or a batch of them in list order, or a
    batch as the text of a JSON list, which the sink takes only when it can take it whole exactly as it
    would take the parsed elements (else it returns False and they come parsed)."""

    def add(self, item: Any) -> None: ...

    def extend(self, items: list[Any]) -> None: ...

    def extend_text(self, text: str) -> bool: ...


class StreamReader:
    """A window on the file's text that slides forward; `pos` indexes the window."""

    def __init__(self, fh: IO[bytes], path: Path) -> None:
        self.fh, self.path = fh, path
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.buf, self.pos, self.eof = "", 0, False
        self.bytes_read = 0
        self.line, self.col = 0, 0  # newlines and trailing columns of the text already dropped
        self.scan = json.JSONDecoder().raw_decode
        self.fills, self.batch_failed = 0, -1  # windows read; the window where a batch last failed
        self.text_failed = -1  # the window where a sink last refused a batch as text

    def fill(self) -> None:
        """Drop what was consumed and append the next chunk (sets eof at the end of the file)."""
        dropped = self.buf[: self.pos]
        newlines = dropped.count("\n")
        self.line += newlines
        self.col = len(dropped) - dropped.rfind("\n") - 1 if newlines else self.col + len(dropped)
        raw = self.fh.read(CHUNK)
        try:
            text = self.decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            at = self.bytes_read + exc.start
            raise InputError(f"{self.path}: not JSON (not UTF-8 text: {exc.reason} at byte {at})") from None
        self.bytes_read += len(raw)
        self.buf, self.pos, self.eof = self.buf[self.pos :] + text, 0, not raw
        self.fills += 1

    def _scan_at(self, pos: int) -> tuple[Any, int]:
        try:
            return self.scan(self.buf, pos)  # type: ignore[no-any-return]
        except RecursionError:
            raise nested_too_deeply(self.path) from None

    def where(self, pos: int) -> tuple[int, int]:
        """(line, column), 1-based, of a position in the window."""
        newlines = self.buf.count("\n", 0, pos)
        if newlines:
            return self.line + newlines + 1, pos - self.buf.rfind("\n", 0, pos)
        return self.line + 1, self.col + pos + 1

    def fail(self, msg: str, pos: int, *, truncated: bool = False) -> InputError:
        line, col = self.where(pos)
        if truncated:
            return InputError(
                f"{self.path}: truncated JSON: the file ends at line {line} column {col} "
                f"before the document is complete (an interrupted upload or copy?)"
            )
        return InputError(f"{self.path}: not JSON: {msg} at line {line} column {col}")

    def peek(self) -> str:
        """The next non-blank character ('' at the end of the file), without consuming it."""
        while True:
            buf, pos = self.buf, self.pos
            while pos < len(buf) and buf[pos] in _WS:
                pos += 1
            self.pos = pos
            if pos < len(buf):
                return buf[pos]
            if self.eof:
                return ""
            self.fill()

    def expect(self, chars: str, msg: str) -> str:
        c = self.peek()
        if c == "":
            raise self.fail(msg, self.pos, truncated=True)
        if c not in chars:
            raise self.fail(msg, self.pos)
        self.pos += 1
        return c

    def value(self) -> Any:
        """One JSON value at the cursor; more text is read while the value may continue past the window."""
        self.peek()
        while True:
            try:
                obj, end = self._scan_at(self.pos)
                # a number may be cut short by the window ("1e" of "1e+300"): keep a margin unless at the end
                if end + _MARGIN <= len(self.buf) or self.eof:
                    self.pos = end
                    return obj
            except json.JSONDecodeError as exc:
                end = len(self.buf.rstrip())
                cut = exc.pos >= end - 1 or exc.msg.startswith("Unterminated string")
                # "1e+" at the window's end fails at its 'e', two characters before the end: anything that
                # fails within the margin is read on before it is called an error
                if self.eof or not (cut or exc.pos >= end - _MARGIN):
                    raise self.fail(exc.msg, exc.pos, truncated=self.eof and cut) from None
            self.fill()


def nested_too_deeply(path: Path) -> InputError:
    """The error for a document deeper than the parsers go (json's scanner: Python's recursion limit)."""
    return InputError(f"{path}: JSON nested too deeply to parse (about a thousand levels of [ or {{, or more)")


def _batch(reader: StreamReader) -> list[Any] | None:
    """The list elements that end before the window does, decoded in one call of the C scanner, or None.

    The window is cut after its last '}' and closed with ']'. A cut inside a string or inside a nested
    value leaves the text unbalanced, so it fails to decode and the caller goes element by element (which
    also names any real syntax error exactly as the whole-file parser does) until the window moves on.
    When the list ends inside the window, the scanner stops at its own ']': those are its last elements."""
    buf, start = reader.buf, reader.pos
    if reader.batch_failed == reader.fills:
        return None
    cut = buf.rfind("}", start, len(buf) - _MARGIN)
    if cut < start + _BATCH_MIN:
        return None
    try:
        items, end = reader.scan("[" + buf[start : cut + 1] + "]")
    except (json.JSONDecodeError, RecursionError):  # element by element names the problem
        reader.batch_failed = reader.fills
        return None
    reader.pos = start + end - 2 if end != cut - start + 3 else cut + 1  # at the list's own ']', or past the cut
    return items  # type: ignore[no-any-return]


def _text_batch(reader: StreamReader, take: Callable[[str], bool]) -> bool:
    """The list elements that end before the window does, as the text of a JSON list, handed to ``take``
    (a sink's extend_text); whether it took them. The cut is `_batch`'s: a text it leaves unbalanced
    is refused by the sink's strict parser, and then `_batch` and the scanner go on as they would."""
    buf, start = reader.buf, reader.pos
    if reader.text_failed == reader.fills:
        return False
    cut = buf.rfind("}", start, len(buf) - _MARGIN)
    if cut < start + _BATCH_MIN or not take("[" + buf[start : cut + 1] + "]"):
        reader.text_failed = reader.fills
        return False
    reader.pos = cut + 1
    return True


def _list(
    reader: StreamReader,
    one: Callable[[Any], None],
    many: Callable[[list[Any]], None],
    text: Callable[[str], bool] | None = None,
) -> None:
    reader.pos += 1  # the '['
    if reader.peek() == "]":
        reader.pos += 1
        return
    while True:
        if text is None or not _text_batch(reader, text):
            items = _batch(reader)
            if items is None:
                one(reader.value())
            else:
                many(items)
        if reader.expect(",]", "Expecting ',' delimiter") == "]":
            return


def read_streaming(path: Path, sinks: dict[str, Callable[[], Sink]]) -> dict[str, Any]:
    """The top-level object of ``path``. A key in ``sinks`` whose value is a list is not stored: its
    elements go, in order, to the sink ``sinks[key]()`` (called once per occurrence of the key)."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise InputError(f"{path}: annotations file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read annotations file: {exc.strerror}") from None
    with fh:
        reader = StreamReader(fh, path)
        first = reader.peek()
        if first == "":
            raise InputError(f"{path}: file is empty, expected COCO instances JSON")
        doc = reader.value() if first != "{" else _object(reader, sinks)
        if reader.peek() != "":
            raise reader.fail("Extra data", reader.pos)
        return doc  # type: ignore[no-any-return]


def _object(reader: StreamReader, sinks: dict[str, Callable[[], Sink]]) -> dict[str, Any]:
    reader.pos += 1  # the '{'
    doc: dict[str, Any] = {}
    if reader.peek() == "}":
        reader.pos += 1
        return doc
    while True:
        if reader.peek() != '"':
            raise reader.fail(
                "Expecting property name enclosed in double quotes", reader.pos, truncated=reader.peek() == ""
            )
        key = reader.value()
        reader.expect(":", "Expecting ':' delimiter")
        if reader.peek() == "[":
            items: list[Any] = []
            if key in sinks:
                sink = sinks[key]()
                _list(reader, sink.add, sink.extend, sink.extend_text)
            else:
                _list(reader, items.append, items.extend)
            if key in sinks:
                doc.pop(key, None)
            else:
                doc[key] = items
        else:
            doc[key] = reader.value()
        if reader.expect(",}", "Expecting ',' delimiter") == "}":
            return doc
