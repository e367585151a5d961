"""Which input is which file: one reference per file, one ``video_id``
per reference, without Beam.

Inputs name files by canonical URI (``storage.files.canonical_uri``), so a
file named twice (by a manifest and a pattern, by two patterns, through a
symlink and by its target, as ``a/../b``) has one URI, and
``one_ref_per_file`` keeps one reference for it: a manifest's explicit
``video_id`` wins over the derived one, and between several explicit ones
the smallest, so the choice does not depend on input order.

Then ``unique_video_ids`` sees every reference that carries one
``video_id``.  A single file keeps its id, so clip ids stay stable.  When
several files share it, none may block another: each is scanned under
``<given>~<file token>`` (the token is ``stable_video_id`` of its canonical
URI) and its ledger row keeps the given id in ``shared_video_id``.  A given
id that already has that form is renamed the same way even when alone, so
no input can claim the name another file is renamed to; renamed ids are
then unique because the (given id, file) pairs are.
"""
from __future__ import annotations

import hashlib
import re
from typing import Iterable, Iterator

from pipeline.records import VideoRef

SHARED_ID_SEPARATOR = '~'
_RENAMED = re.compile(re.escape(SHARED_ID_SEPARATOR) + r'[0-9a-f]{20}\Z')


def stable_video_id(uri: str) -> str:
  """The default ``video_id`` of a file, and its token in renamed ids: a
  stable hash of its canonical URI."""
  return hashlib.sha256(uri.encode('utf-8')).hexdigest()[:20]


def wave_of(uri: str, waves: int) -> int:
  """The wave (``--waves``, ``pipeline.scan.job``) that scans the file
  ``uri`` (its canonical URI): a stable hash, so that every wave's job,
  listing the same inputs, picks the same files without the launcher
  listing the archive."""
  return int(hashlib.sha256(uri.encode('utf-8')).hexdigest()[:15], 16) % waves


def in_wave(ref: VideoRef, wave: int, waves: int) -> bool:
  return wave_of(ref.uri, waves) == wave


def one_ref_per_file(uri: str, refs: Iterable[VideoRef]) -> VideoRef:
  """The one reference kept for the file ``uri``: the smallest explicit
  ``video_id`` if any reference has one, else the derived one."""
  refs = list(refs)
  explicit = sorted(r.video_id for r in refs if r.explicit_id)
  if explicit:
    return VideoRef(explicit[0], uri, True)
  return VideoRef(min(r.video_id for r in refs), uri, False)


def has_renamed_form(video_id: str) -> bool:
  return _RENAMED.search(video_id) is not None


def unique_id(video_id: str, uri: str) -> str:
  """The id a file gets when ``video_id`` is not its alone."""
  return f'{video_id}{SHARED_ID_SEPARATOR}{stable_video_id(uri)}'


def unique_video_ids(video_id: str,
                     refs: Iterable[VideoRef]) -> Iterator[VideoRef]:
  """The references that were given ``video_id`` (one per file), each with
  a ``video_id`` no other file of the scan has."""
  refs = sorted(set(refs), key=lambda r: r.uri)
  if len(refs) == 1 and not has_renamed_form(video_id):
    yield refs[0]
    return
  for ref in refs:
    yield ref._replace(video_id=unique_id(video_id, ref.uri),
                       shared_video_id=video_id)
