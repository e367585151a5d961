"""Text from the data, made safe to print on a terminal.

File names, URIs, labels and error messages come from the archive or from a
manifest, that is from whoever uploaded the file.  A name holding an escape
sequence (``\\x1b]0;...``, ``\\x1b[2J``), a carriage return or a bidi
override (U+202E) can rewrite what a reviewer sees: hide a failed row, move
the cursor over a line, show ``mp4.exe`` as ``exe.4pm``.  Every place that
prints such a name to a person passes it through ``printable``; JSON output
through ``json_printable``, which keeps the value (``\\uXXXX`` escapes).
"""
from __future__ import annotations

import unicodedata
from typing import Any

# Unicode categories that draw nothing of their own and may steer the
# terminal or the text direction: controls (C0, DEL, C1), formatting
# characters (bidi overrides, zero-width ones) and line/paragraph separators.
HIDDEN_CATEGORIES = frozenset(('Cc', 'Cf', 'Zl', 'Zp'))


def is_hidden(char: str) -> bool:
  return unicodedata.category(char) in HIDDEN_CATEGORIES


def _escape(char: str) -> str:
  code = ord(char)
  if code < 0x100:
    return f'\\x{code:02x}'
  if code < 0x10000:
    return f'\\u{code:04x}'
  return f'\\U{code:08x}'


def printable(value: Any) -> str:
  """``str(value)`` with every control, formatting and separator character
  written as a Python-style escape (``\\x1b``, ``\\u202e``); ``None`` is
  ''.  Everything else, non-ASCII letters included, is kept."""
  text = '' if value is None else str(value)
  if not any(is_hidden(c) for c in text):
    return text
  return ''.join(_escape(c) if is_hidden(c) else c for c in text)


def _json_escape(char: str) -> str:
  code = ord(char)
  if code < 0x10000:
    return f'\\u{code:04x}'
  code -= 0x10000
  return f'\\u{0xd800 + (code >> 10):04x}\\u{0xdc00 + (code & 0x3ff):04x}'


def json_printable(document: str) -> str:
  """A JSON text with every hidden character written as a ``\\uXXXX``
  escape: the same JSON value, safe on a terminal.  (JSON's own syntax is
  printable ASCII, so hidden characters can only be inside strings.)"""
  if not any(is_hidden(c) for c in document):
    return document
  return ''.join(_json_escape(c) if is_hidden(c) and c not in '\n'
                 else c for c in document)
