"""Cleaning of untrusted text before it leaves the sandbox.

A program's exception messages and printed output reach terminals, reports,
prompts and the store. :func:`clean_text` removes what could act on a
terminal (ANSI escape sequences, other control and bidi-override characters)
and redacts the values of the caller's environment variables, so that a
program that somehow read a secret cannot print it back out.
"""
import os
import re

#: Environment values shorter than this are too common to redact usefully.
MIN_SECRET_LENGTH = 6
REDACTED = "[redacted]"

# CSI / OSC / other ESC sequences first, so their payload goes with them.
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_]?)")
# C0 and C1 controls, DEL, and Unicode bidi overrides/isolates; newline and tab stay.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def strip_controls(text, keep_newlines=True):
    """``text`` without escape sequences or control characters."""
    text = _CONTROLS.sub("", _ESCAPES.sub("", str(text)))
    return text if keep_newlines else text.replace("\n", " ").replace("\t", " ")


def redact_environment(text, environ=None):
    """``text`` with every environment value of ``MIN_SECRET_LENGTH`` or more characters redacted."""
    environ = os.environ if environ is None else environ
    values = {v for v in environ.values() if len(v) >= MIN_SECRET_LENGTH}
    for value in sorted(values, key=len, reverse=True):  # longest first: a value may contain another
        text = text.replace(value, REDACTED)
    return text


def clean_text(text, keep_newlines=True):
    """Untrusted ``text`` made safe to show: controls stripped, then secrets redacted."""
    return redact_environment(strip_controls(text, keep_newlines))
