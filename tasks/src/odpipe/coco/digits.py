"""Whether a JSON text may hold an integer of 19 digits or more: below that, every integer fits in int64
and other parsers (orjson, msgspec) read every number exactly as json does; at or above it, json decides
(orjson turns such integers into floats)."""

from __future__ import annotations

import re

_LONG_RUN = b"0" * 19
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else b for b in range(256))
# 19+ digits not part of a float's fraction or mantissa (a float parses exactly whatever its length)
_LONG_INTEGER = re.compile(rb"(?<![0-9.])[0-9]{19,}(?![0-9.eE])")


def may_hold_long_integer(raw: bytes) -> bool:
    # a run of 19 digits found as 19 zeros once every digit reads '0' (~25x faster than the regex, which
    # then only looks at texts that have such a run)
    return _LONG_RUN in raw.translate(_DIGITS_AS_ZERO) and _LONG_INTEGER.search(raw) is not None
