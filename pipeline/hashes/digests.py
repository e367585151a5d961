"""Exact matching by cryptographic digest: the exact-match lists a bank
holds (``rescan bank import --md5 FILE`` / ``--sha256 FILE``), and the
``hash_matches`` rows of a ledger row whose ``content_md5`` or
``content_sha256`` is in one (pure, no Beam).

The hash-sharing databases of the industry exchange MD5 (and SHA-256)
lists next to PDQ and video hashes: a file whose bytes equal a known file
is a copy, whatever its name, with no frame decoded.  A ledger records the
digests when storage gives them for free (GCS's MD5) or with ``--digests``.

A digest list is text, one digest per line::

    # comments start with '#'; blank lines are ignored
    d41d8cd98f00b204e9800998ecf8427e
    9e107d9d372bb6826bd81d3542a419d6  known/clip-17.mp4
    e4d909c290d0fb1ca068ffaddf22cbd0,case-4411

A digest (hex, either case; 32 digits for MD5, 64 for SHA-256), then
optionally a separator (spaces, a tab or a comma) and a name, which
becomes the entry id (``md5sum`` output is such a list; its ``*`` binary
marker is dropped).  Without a name the entry id is ``md5:<hex>``.  A
digest listed twice is one entry (the first name wins).  Anything else is
refused whole (``DigestListError``, one line naming the file and line): a
list is a moderation decision, and half a list is worse than none.
"""
from __future__ import annotations

import re
from typing import (Dict, Iterable, List, Mapping, NamedTuple, Optional,
                    Sequence, Tuple)

from pipeline.hashes.matching import HashMatch
from schemas.hash_tables import DIGEST_KINDS
from schemas.hash_tables import MATCH_KIND_MD5
from schemas.hash_tables import MATCH_KIND_SHA256

HEX_DIGITS = {MATCH_KIND_MD5: 32, MATCH_KIND_SHA256: 64}
# The ledger column that holds each kind's digest.
LEDGER_COLUMN = {MATCH_KIND_MD5: 'content_md5',
                 MATCH_KIND_SHA256: 'content_sha256'}
# A list larger than this is refused before it is read: 256 MiB holds
# about 7.8 million MD5 lines, beyond the largest shared lists, and keeps
# an import's memory bounded.
MAX_DIGEST_LIST_BYTES = 256 * 1024 * 1024
MAX_LINE_CHARS = 4096
MAX_NAME_CHARS = 256
_HEX = re.compile(r'[0-9a-fA-F]+')
_SEPARATOR = re.compile(r'[\s,]+')
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')
_SHOWN_CHARS = 40


class DigestListError(ValueError):
  """A digest list that cannot be imported: the message is one line that
  names the file (and the line) and what is wrong."""


class DigestEntry(NamedTuple):
  """One known file digest of a bank; mirrors ``BANK_DIGESTS``."""
  entry_id: str
  label: str
  kind: str
  digest: str


def _shown(text: str) -> str:
  return repr(text if len(text) <= _SHOWN_CHARS
              else text[:_SHOWN_CHARS] + '...')


def check_kind(kind: str) -> str:
  if kind not in DIGEST_KINDS:
    raise DigestListError(f'unknown digest kind {kind!r}; expected one of '
                          f'{", ".join(DIGEST_KINDS)}')
  return kind


def check_size(size_bytes: int, source: str) -> None:
  """Refuses a list too large to import, before it is read."""
  if size_bytes > MAX_DIGEST_LIST_BYTES:
    raise DigestListError(
        f'{source}: {size_bytes} bytes; a digest list may hold at most '
        f'{MAX_DIGEST_LIST_BYTES >> 20} MiB')


def normalize_digest(token: str, kind: str) -> str:
  """``token`` as lower-case hex of ``kind``'s length, else
  ``ValueError`` saying what is wrong."""
  digits = HEX_DIGITS[check_kind(kind)]
  if not _HEX.fullmatch(token):
    raise ValueError(f'{_shown(token)} is not hexadecimal')
  if len(token) != digits:
    raise ValueError(f'{_shown(token)} has {len(token)} hex digits; '
                     f'{kind} has {digits}')
  return token.lower()


def _name(text: str) -> str:
  name = text.strip().lstrip('*').strip()
  if len(name) > MAX_NAME_CHARS:
    raise ValueError(f'name longer than {MAX_NAME_CHARS} characters')
  if _CONTROL.search(name):
    raise ValueError('control character in the name')
  return name


def parse_digest_list(data: bytes, kind: str, source: str = '<text>'
                      ) -> List[Tuple[str, Optional[str]]]:
  """``(digest, name or None)`` of every line of a digest list, in order,
  each digest once; raises ``DigestListError`` on anything else."""
  check_kind(kind)
  check_size(len(data), source)
  try:
    text = data.decode('utf-8-sig')
  except UnicodeDecodeError as exc:
    raise DigestListError(f'{source}: not UTF-8 text (byte {exc.start} '
                          'cannot be decoded)') from exc
  found: Dict[str, Optional[str]] = {}
  for number, line in enumerate(text.splitlines(), 1):
    if len(line) > MAX_LINE_CHARS:
      raise DigestListError(f'{source}:{number}: line longer than '
                            f'{MAX_LINE_CHARS} characters')
    content = line.split('#', 1)[0].strip()
    if not content:
      continue
    fields = _SEPARATOR.split(content, maxsplit=1)
    try:
      digest = normalize_digest(fields[0], kind)
      name = _name(fields[1]) if len(fields) > 1 else ''
    except ValueError as exc:
      raise DigestListError(f'{source}:{number}: {exc}') from exc
    found.setdefault(digest, name or None)
  if not found:
    raise DigestListError(f'{source}: no {kind} digests')
  return list(found.items())


def digest_entries(parsed: Iterable[Tuple[str, Optional[str]]], kind: str,
                   label: str) -> List[DigestEntry]:
  """Parsed lines -> bank digest entries (entry id: the name, else
  ``<kind>:<hex>``)."""
  return [DigestEntry(name or f'{kind}:{digest}', label, kind, digest)
          for digest, name in parsed]


def merge_digests(kept: Sequence[DigestEntry], added: Sequence[DigestEntry]
                  ) -> Tuple[DigestEntry, ...]:
  """``kept`` with ``added``: a digest already there is replaced."""
  replaced = {(e.kind, e.digest) for e in added}
  return tuple(e for e in kept if (e.kind, e.digest) not in replaced) + \
      tuple(added)


class KnownFile(NamedTuple):
  bank: str
  entry_id: str
  label: str


# (kind, digest) -> the bank entries that list it.
DigestIndex = Dict[Tuple[str, str], Tuple[KnownFile, ...]]


def digest_index(banks: Iterable[Tuple[str, Sequence[DigestEntry]]]
                 ) -> DigestIndex:
  """The digests of several banks (``(bank id, entries)``), for lookups."""
  index: Dict[Tuple[str, str], List[KnownFile]] = {}
  for bank, entries in banks:
    for e in entries:
      known = KnownFile(bank, e.entry_id, e.label)
      listed = index.setdefault((e.kind, e.digest), [])
      if known not in listed:
        listed.append(known)
  return {key: tuple(value) for key, value in index.items()}


def latest_row(rows: Iterable[Mapping], scan_id: Optional[str] = None
               ) -> Optional[Mapping]:
  """One video's ledger row of ``scan_id``, by default of its latest scan
  (scan ids sort by time, as for frame hashes); ``None`` when it has none."""
  rows = [r for r in rows if scan_id is None or r['scan_id'] == scan_id]
  return max(rows, key=lambda r: r['scan_id']) if rows else None


def ledger_matches(row: Mapping, index: DigestIndex,
                   scan_id: str) -> List[HashMatch]:
  """The exact matches of one ledger row: one per bank entry listing its
  ``content_md5`` or ``content_sha256`` (a column an older ledger lacks
  matches nothing); an entry listing both is reported once per kind."""
  matches = []
  for kind in DIGEST_KINDS:
    digest = row.get(LEDGER_COLUMN[kind])
    if not digest:
      continue
    for known in index.get((kind, digest.lower()), ()):
      matches.append(HashMatch(
          row['video_id'], row['video_uri'], known.bank, known.entry_id,
          known.label, 100.0, 100.0, 0, 0, int(row.get('duration_ms') or 0),
          scan_id, kind))
  return matches
