"""JSON text the store did not just write itself: bounded in size and depth before parsing.

Stored reports, metadata and events (a store file can be edited) and bundles
(written by someone else) are parsed here. The depth is measured on the raw
text in linear time (strings removed by one regular expression that never
backtracks, then a running sum over the brackets), so a deeply nested document
is a clean :class:`InvalidInput` before :func:`json.loads` could recurse, and
everything the parsed value later passes through (hashing, printing, the HTML
page) stays shallow.
"""
import json
import re

import numpy as np

from das.program_store.errors import InvalidInput

#: Deepest nesting of arrays and objects accepted (a bundle nests 10 deep, a report 5).
MAX_DEPTH = 64
# A string from its quote to the closing quote, or to the end of an unterminated one:
# every match runs forward only, so an unterminated string costs one pass, not one per quote.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = np.zeros(256, dtype=np.int64)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


def nesting_depth(text):
    """Deepest ``[``/``{`` nesting of JSON ``text`` (string contents skipped), in linear time."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text)).encode("ascii")
    if not brackets:
        return 0
    return int(np.cumsum(_STEP[np.frombuffer(brackets, dtype=np.uint8)]).max())


def check_bounds(text, max_chars, max_depth=MAX_DEPTH):
    """Raise :class:`InvalidInput` if JSON ``text`` is longer than ``max_chars`` or nests deeper than ``max_depth``."""
    if len(text) > max_chars:
        raise InvalidInput(f"JSON text of {len(text):,} characters is over the limit of {max_chars:,}")
    depth = nesting_depth(text)
    if depth > max_depth:
        raise InvalidInput(f"JSON nests {depth:,} levels deep, more than {max_depth}")


def parse_json(text, max_chars, max_depth=MAX_DEPTH, kind=dict):
    """Parse untrusted JSON ``text`` into a ``kind`` (dict by default) within the bounds.

    Raises
    ------
    InvalidInput
        Not a string, longer than ``max_chars``, nested deeper than
        ``max_depth``, malformed, or not a ``kind``.
    """
    if not isinstance(text, str):
        raise InvalidInput(f"expected JSON text, got {type(text).__name__}")
    check_bounds(text, max_chars, max_depth)
    try:
        value = json.loads(text)
    except ValueError as exc:  # JSONDecodeError, and integers over Python's digit limit
        raise InvalidInput(f"malformed JSON: {exc}") from None
    if not isinstance(value, kind):
        raise InvalidInput(f"JSON holds {type(value).__name__}, expected {kind.__name__}")
    return value
