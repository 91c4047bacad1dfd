"""Cleaning of untrusted text before it leaves the sandbox.

A program's exception messages and printed output reach terminals, reports,
prompts and the store. :func:`clean_text` removes what could act on a
terminal (ANSI escape sequences, other control and bidi-override characters)
and redacts the values of the caller's environment variables, so that a
program that somehow read a secret cannot print it back out. Text shown for
review (a program's source and policy) keeps every character but shows the
controls as visible escapes: :func:`show_controls`.
"""
import os
import re

#: Environment values shorter than this are too common to redact usefully.
MIN_SECRET_LENGTH = 6
REDACTED = "[redacted]"

# CSI / OSC / other ESC sequences first, so their payload goes with them.
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_]?)")
#: Characters that act on a terminal or hide text instead of showing: every control (C0 but
#: tab and newline, DEL, C1), format character (bidi overrides and isolates, zero-width and
#: invisible characters, BOM, tags), line/paragraph separator and lone surrogate of Unicode 14
#: (categories Cc, Cf, Zl, Zp, Cs).
CONTROLS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]")


def escape_mark(char):
    """``char`` as the Python escape that names it: ``\\x1b``, ``\\u202e``, ``\\U000e0041``."""
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def show_controls(text, mark=escape_mark):
    """``text`` with every :data:`CONTROLS` character shown as ``mark(char)`` (never interpreted).

    The one cleaning of untrusted text for display: the terminal (every ``das``
    text output) shows Python escapes; the HTML report passes its own mark.
    """
    return CONTROLS.sub(lambda match: mark(match.group()), str(text))


def strip_controls(text, keep_newlines=True):
    """``text`` without escape sequences or control characters."""
    text = CONTROLS.sub("", _ESCAPES.sub("", str(text)))
    return text if keep_newlines else text.replace("\n", " ").replace("\t", " ")


def redact_environment(text, environ=None):
    """``text`` with every environment value of ``MIN_SECRET_LENGTH`` or more characters redacted."""
    environ = os.environ if environ is None else environ
    values = {v for v in environ.values() if len(v) >= MIN_SECRET_LENGTH}
    for value in sorted(values, key=len, reverse=True):  # longest first: a value may contain another
        text = text.replace(value, REDACTED)
    return text


def clean_text(text, keep_newlines=True):
    """Untrusted ``text`` made safe to show and store: controls stripped, secrets
    redacted, and whatever UTF-8 cannot encode (lone surrogates, from the text or
    from an environment value) replaced by ``?`` -- sqlite, JSON files and
    terminals downstream all encode it."""
    cleaned = redact_environment(strip_controls(text, keep_newlines))
    return cleaned.encode("utf-8", "replace").decode("utf-8")
