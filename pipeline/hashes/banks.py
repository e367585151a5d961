"""Hash banks: folders of known-content frame hashes, and importing into
them (``import_bank``, run by ``rescan bank import``).

A bank is a folder on any Beam filesystem::

    BANK/bank.json        {"id", "label", "created_at", "sources": [...],
                          "match_rules": {...} (optional, see below)}
    BANK/entries.parquet  schemas.hash_tables.BANK_ENTRIES: entry_id, label,
                          hashes: list<{pdq, quality, ts_ms}>
    BANK/digests.parquet  schemas.hash_tables.BANK_DIGESTS: entry_id, label,
                          kind ("md5"/"sha256"), digest (hex); exact-match
                          lists (banks made before it existed have none)

``rescan bank import`` adds entries read from:

* vPDQ feature files (``--vpdq``), one entry per file: the C++
  ``vpdq-hash-video`` output, lines ``frame_number,quality,pdq_hex,timestamp``
  (``vpdqio.cpp``); the ``vpdq`` Python CLI / py-threatexchange compact
  form, lines ``pdq_hex,quality,timestamp``; or a py-threatexchange VPDQ
  signal string, a JSON list of ``"pdq_hex,quality,timestamp"``.
  Timestamps are in seconds.
* Plain PDQ hex lists (``--pdq-hex``): one 64-digit hash per line,
  optionally followed by a quality (0..100, default 100) and a time in
  seconds (default: the line's ordinal, one hash a second), separated by a
  comma or whitespace; ``#`` starts a comment.  One entry per file, or one
  per hash with ``--entry-per-hash``.
* Our own ``frame_hashes`` dataset (``--frame-hashes ROOT --video-id X``):
  one entry per video, from its latest scan (or ``--hash-scan-id``).
* Exact-match lists (``--md5 FILE``, ``--sha256 FILE``): one digest per
  line (``pipeline.hashes.digests``), matched against the ledger's
  ``content_md5`` / ``content_sha256``.
* Confirmed clips (``--from-verdicts ROOT``): one entry per clip the
  command found confirmed (``ClipSource``), named by its clip id and
  recording it (``source_clip_id``), holding the stored frame hashes of
  the clip's video in the clip's time range only.  The bank then records
  ``CLIP_MATCH_RULES`` as its matching rules (``bank.json``
  ``match_rules``; ``rescan match`` flags override them): a clip is a
  piece of a video, so a copy is a video in which the clip's frames are
  found, whatever else it holds.

Importing an ``entry_id`` the bank already has replaces that entry;
importing a digest the bank already lists replaces its entry.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import posixpath
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.storage.parquet import conform_to_schema
from pipeline.storage.parquet import read_dataset
from pipeline.storage.parquet import read_parquet_file
from pipeline.hashes import digests as digest_lists
from pipeline.hashes.digests import DigestEntry
from pipeline.hashes.matching import BankEntry
from pipeline.hashes.matching import BankIndex
from pipeline.hashes.matching import FrameHashes
from pipeline.hashes.matching import MatchRules
from pipeline.hashes.matching import frame_hashes
from pipeline.hashes.matching import index_from_arrays
from pipeline.hashes.pdq import pdq_from_hex
from pipeline.hashes.pdq import pdq_hex
from schemas.hash_tables import BANK_DIGESTS
from schemas.hash_tables import BANK_ENTRIES
from schemas.hash_tables import BANK_HASH
from schemas.hash_tables import MATCH_KIND_MD5
from schemas.hash_tables import MATCH_KIND_SHA256
from schemas.hash_tables import PDQ_BYTES
from schemas.hash_tables import PDQ_TYPE

BANK_FILE = 'bank.json'
ENTRIES_FILE = 'entries.parquet'
DIGESTS_FILE = 'digests.parquet'
DEFAULT_QUALITY = 100

SOURCE_VPDQ = 'vpdq'
SOURCE_PDQ_HEX = 'pdq_hex'
SOURCE_FRAME_HASHES = 'frame_hashes'
SOURCE_MD5 = MATCH_KIND_MD5
SOURCE_SHA256 = MATCH_KIND_SHA256
SOURCE_VERDICTS = 'verdicts'

# How a bank of confirmed clips matches: every video in which at least
# 80 % of the clip's distinct hashes are found (vPDQ's threshold, read
# from the entry's side), however long the video is.
CLIP_MATCH_RULES = MatchRules(query_match_pct=0.0, compared_match_pct=80.0)


class Bank(NamedTuple):
  bank_id: str
  label: str
  created_at: str
  sources: Tuple[dict, ...]
  entries: Tuple[BankEntry, ...]
  digests: Tuple[DigestEntry, ...] = ()
  # The bank's own matching rules (``CLIP_MATCH_RULES`` for a bank of
  # clips); ``None``: the match job's defaults.
  match_rules: Optional[MatchRules] = None


class ClipSource(NamedTuple):
  """A confirmed clip to bank: its id, the video and scan it was found
  in, its time range and the outcome of its verdicts."""
  clip_id: str
  video_id: str
  scan_id: str
  start_ms: int
  end_ms: int
  outcome: str


class Hash(NamedTuple):
  pdq: bytes
  quality: int
  ts_ms: int


def _entry(entry_id: str, label: str, hashes: Sequence[Hash]) -> BankEntry:
  return BankEntry(entry_id, label, frame_hashes(
      [h.pdq for h in hashes], [h.quality for h in hashes],
      [h.ts_ms for h in hashes]))


def _quality(text: str) -> int:
  quality = int(text)
  if not 0 <= quality <= 100:
    raise ValueError(f'quality must be in 0..100, got {quality}')
  return quality


def _ms(seconds: str) -> int:
  value = float(seconds)
  if value < 0:
    raise ValueError(f'negative timestamp {seconds}')
  return int(round(value * 1000))


def _vpdq_feature(fields: Sequence[str]) -> Hash:
  if len(fields) == 4:   # frame_number,quality,pdq_hex,timestamp
    return Hash(pdq_from_hex(fields[2]), _quality(fields[1]), _ms(fields[3]))
  if len(fields) == 3:   # pdq_hex,quality,timestamp
    return Hash(pdq_from_hex(fields[0]), _quality(fields[1]), _ms(fields[2]))
  raise ValueError(f'expected 3 or 4 comma-separated fields, got {len(fields)}')


def parse_vpdq(text: str, source: str = '<text>') -> List[Hash]:
  """The frame hashes of a vPDQ feature file or signal string."""
  stripped = text.strip()
  if stripped.startswith('['):
    lines = json.loads(stripped)
    if not all(isinstance(line, str) for line in lines):
      raise ValueError(f'{source}: a vPDQ signal is a JSON list of strings')
  else:
    lines = stripped.splitlines()
  hashes = []
  for number, line in enumerate(lines, 1):
    if not line.strip():
      continue
    try:
      hashes.append(_vpdq_feature([f.strip() for f in line.split(',')]))
    except ValueError as exc:
      raise ValueError(f'{source}:{number}: {exc}') from exc
  if not hashes:
    raise ValueError(f'{source}: no vPDQ features')
  return hashes


def parse_pdq_hex(text: str, source: str = '<text>') -> List[Hash]:
  """The hashes of a plain PDQ hex list."""
  hashes = []
  for number, line in enumerate(text.splitlines(), 1):
    fields = line.split('#', 1)[0].replace(',', ' ').split()
    if not fields:
      continue
    try:
      if len(fields) > 3:
        raise ValueError(f'expected at most 3 fields, got {len(fields)}')
      quality = _quality(fields[1]) if len(fields) > 1 else DEFAULT_QUALITY
      ts_ms = _ms(fields[2]) if len(fields) > 2 else len(hashes) * 1000
      hashes.append(Hash(pdq_from_hex(fields[0]), quality, ts_ms))
    except ValueError as exc:
      raise ValueError(f'{source}:{number}: {exc}') from exc
  if not hashes:
    raise ValueError(f'{source}: no PDQ hashes')
  return hashes


def latest_frame_hashes(table: pa.Table, video_ids: Sequence[str],
                        scan_id: Optional[str] = None) -> Dict[str, List[Hash]]:
  """Per requested video, its hashes from ``scan_id`` or its latest scan."""
  rows: Dict[str, Dict[str, List[Hash]]] = {}
  wanted = table.filter(pc.is_in(table['video_id'],
                                 pa.array(list(video_ids), pa.string())))
  for row in wanted.to_pylist():
    if scan_id is not None and row['scan_id'] != scan_id:
      continue
    rows.setdefault(row['video_id'], {}).setdefault(row['scan_id'], []).append(
        Hash(row['pdq'], row['quality'], row['ts_ms']))
  chosen = {}
  for video_id, scans in rows.items():
    chosen[video_id] = sorted(scans[max(scans)], key=lambda h: h.ts_ms)
  return chosen


def _read_bytes(uri: str) -> bytes:
  with FileSystems.open(uri, mime_type='application/octet-stream',
                        compression_type=CompressionTypes.UNCOMPRESSED) as f:
    return f.read()


def _write_bytes(uri: str, data: bytes) -> None:
  with FileSystems.create(uri, mime_type='application/octet-stream',
                          compression_type=CompressionTypes.UNCOMPRESSED) as f:
    f.write(data)


def _join(folder: str, name: str) -> str:
  return FileSystems.join(folder.rstrip('/'), name)


def expand_files(patterns: Iterable[str]) -> List[str]:
  """File patterns on any filesystem -> the files, in order, no repeats."""
  files: List[str] = []
  for pattern in patterns:
    found = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    if not found:
      raise FileNotFoundError(f'no file matches {pattern}')
    files += [f for f in found if f not in files]
  return files


def read_frame_hashes(root: str, scan_id: Optional[str] = None) -> pa.Table:
  """Every committed frame hash under ``ROOT/frame_hashes/`` (or one
  scan's: ``scan_state.committed_paths``); ``pdq_mirror`` is null in files
  written before it existed."""
  return read_dataset(root, 'frame_hashes', scan_id)


def clip_frame_hashes(table: pa.Table, clip: ClipSource) -> List[Hash]:
  """The stored hashes of ``clip``'s video taken in the clip's time range
  (``start_ms <= ts_ms <= end_ms``), from the scan that found the clip,
  else from the video's latest scan that hashed it."""
  video = table.filter(pc.equal(table['video_id'], clip.video_id))
  scans = set(video.column('scan_id').to_pylist())
  if not scans:
    return []
  scan_id = clip.scan_id if clip.scan_id in scans else max(scans)
  rows = video.filter(pc.and_(
      pc.equal(video['scan_id'], scan_id),
      pc.and_(pc.greater_equal(video['ts_ms'], clip.start_ms),
              pc.less_equal(video['ts_ms'], clip.end_ms))))
  return sorted((Hash(r['pdq'], r['quality'], r['ts_ms'])
                 for r in rows.select(['pdq', 'quality', 'ts_ms']).to_pylist()),
                key=lambda h: h.ts_ms)


def clip_entries(table: pa.Table, clips: Sequence[ClipSource],
                 label: str) -> List[BankEntry]:
  """One bank entry per confirmed clip, named by its clip id; a clip
  with no stored hash in its range raises ``ValueError``."""
  entries = []
  for clip in clips:
    hashes = clip_frame_hashes(table, clip)
    if not hashes:
      raise ValueError(f'clip {clip.clip_id} has no stored frame hash in '
                       f'{clip.start_ms}..{clip.end_ms} ms of video '
                       f'{clip.video_id} (was it scanned with hashing?)')
    entries.append(_entry(clip.clip_id, label, hashes)._replace(
        source_clip_id=clip.clip_id))
  return entries


def entries_table(entries: Sequence[BankEntry]) -> pa.Table:
  """Bank entries -> a ``BANK_ENTRIES`` table (columnar, no per-hash loop)."""
  lengths = np.array([len(e.hashes.quality) for e in entries], np.int64)
  if entries:
    pdq = np.concatenate([e.hashes.pdq for e in entries])
    quality = np.concatenate([e.hashes.quality for e in entries])
    ts_ms = np.concatenate([e.hashes.ts_ms for e in entries])
  else:
    pdq = np.zeros((0, 4), np.uint64)
    quality, ts_ms = np.zeros(0, np.int32), np.zeros(0, np.int64)
  pdq_array = pa.FixedSizeBinaryArray.from_buffers(
      PDQ_TYPE, len(pdq), [None, pa.py_buffer(
          np.ascontiguousarray(pdq, dtype='>u8').tobytes())])
  hashes = pa.StructArray.from_arrays(
      [pdq_array, pa.array(quality, pa.int32()), pa.array(ts_ms, pa.int64())],
      fields=list(BANK_HASH))
  offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]), pa.int32())
  return pa.Table.from_arrays(
      [pa.array([e.entry_id for e in entries], pa.string()),
       pa.array([e.label for e in entries], pa.string()),
       pa.ListArray.from_arrays(offsets, hashes).cast(
           BANK_ENTRIES.field('hashes').type),
       pa.array([e.source_clip_id for e in entries], pa.string())],
      schema=BANK_ENTRIES)


class _Columns(NamedTuple):
  entry_ids: List[str]
  labels: List[str]
  lengths: np.ndarray
  pdq: np.ndarray
  quality: np.ndarray
  ts_ms: np.ndarray
  source_clip_ids: List[Optional[str]]


def _columns(table: pa.Table) -> _Columns:
  """A ``BANK_ENTRIES`` table as flat numpy columns (a bank written before
  ``source_clip_id`` existed reads it as nulls)."""
  table = conform_to_schema(table, BANK_ENTRIES)
  lists = table.column('hashes')
  flat = pc.list_flatten(lists)
  if isinstance(flat, pa.ChunkedArray):
    flat = flat.combine_chunks() if flat.num_chunks else pa.array(
        [], BANK_HASH)
  pdq, quality, ts_ms = flat.flatten()   # children, offsets applied
  raw = np.frombuffer(pdq.buffers()[1], np.uint8) if len(pdq) else \
      np.zeros(0, np.uint8)
  raw = raw[pdq.offset * PDQ_BYTES:(pdq.offset + len(pdq)) * PDQ_BYTES]
  return _Columns(
      table.column('entry_id').to_pylist(), table.column('label').to_pylist(),
      pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(
          np.int64),
      raw.view('>u8').astype(np.uint64).reshape(-1, 4),
      quality.to_numpy(zero_copy_only=False).astype(np.int32),
      ts_ms.to_numpy(zero_copy_only=False).astype(np.int64),
      table.column('source_clip_id').to_pylist())


def entries_from_table(table: pa.Table) -> List[BankEntry]:
  c = _columns(table)
  bounds = np.cumsum(c.lengths)[:-1]
  return [BankEntry(entry_id, label, FrameHashes(pdq, quality, ts_ms), clip)
          for entry_id, label, pdq, quality, ts_ms, clip in zip(
              c.entry_ids, c.labels, np.split(c.pdq, bounds),
              np.split(c.quality, bounds), np.split(c.ts_ms, bounds),
              c.source_clip_ids)]


def _read_entries(path: str) -> pa.Table:
  return read_parquet_file(_join(path, ENTRIES_FILE))


def bank_exists(path: str) -> bool:
  return FileSystems.exists(_join(path, BANK_FILE))


def load_bank(path: str) -> Bank:
  meta = _read_meta(path)
  return Bank(meta['id'], meta['label'], meta['created_at'],
              tuple(meta.get('sources', ())),
              tuple(entries_from_table(_read_entries(path))),
              tuple(read_digests(path)), _rules_from_meta(meta))


def _rules_from_meta(meta: dict) -> Optional[MatchRules]:
  rules = meta.get('match_rules')
  return MatchRules(**rules) if rules else None


def bank_rules(path: str, defaults: MatchRules = MatchRules(),
               overrides: Sequence[str] = ()) -> MatchRules:
  """The rules to match a bank with: its own (``match_rules``), else
  ``defaults``; the fields named in ``overrides`` (rule flags given on the
  command line) are taken from ``defaults`` either way."""
  own = _rules_from_meta(_read_meta(path))
  if own is None:
    return defaults
  return own._replace(**{name: getattr(defaults, name) for name in overrides})


def digests_table(entries: Sequence[DigestEntry]) -> pa.Table:
  return pa.Table.from_pylist([e._asdict() for e in entries],
                              schema=BANK_DIGESTS)


def read_digests(path: str) -> List[DigestEntry]:
  """A bank's exact-match digests; none for a bank made before they
  existed (no ``digests.parquet``)."""
  uri = _join(path, DIGESTS_FILE)
  if not FileSystems.exists(uri):
    return []
  table = read_parquet_file(uri).select(BANK_DIGESTS.names).cast(BANK_DIGESTS)
  return [DigestEntry(*row) for row in zip(
      *(table.column(name).to_pylist() for name in BANK_DIGESTS.names))]


def load_digests(path: str) -> Tuple[str, List[DigestEntry]]:
  """A bank's id and its digests, for exact matching."""
  return _read_meta(path)['id'], read_digests(path)


def has_digests(path: str) -> bool:
  """Whether a bank lists any digest (from the Parquet footer alone)."""
  uri = _join(path, DIGESTS_FILE)
  if not FileSystems.exists(uri):
    return False
  with FileSystems.open(uri, mime_type='application/octet-stream',
                        compression_type=CompressionTypes.UNCOMPRESSED) as f:
    return pq.read_metadata(f).num_rows > 0


def _read_meta(path: str) -> dict:
  return json.loads(_read_bytes(_join(path, BANK_FILE)).decode('utf-8'))


def save_bank(path: str, bank: Bank) -> None:
  """Writes the entries, then ``bank.json`` (whose presence marks a bank)."""
  sink = pa.BufferOutputStream()
  pq.write_table(entries_table(bank.entries), sink, compression='zstd')
  _write_bytes(_join(path, ENTRIES_FILE), sink.getvalue().to_pybytes())
  if bank.digests or FileSystems.exists(_join(path, DIGESTS_FILE)):
    sink = pa.BufferOutputStream()
    pq.write_table(digests_table(bank.digests), sink, compression='zstd')
    _write_bytes(_join(path, DIGESTS_FILE), sink.getvalue().to_pybytes())
  meta = {'id': bank.bank_id, 'label': bank.label,
          'created_at': bank.created_at, 'sources': list(bank.sources)}
  if bank.match_rules is not None:
    meta['match_rules'] = bank.match_rules._asdict()
  _write_bytes(_join(path, BANK_FILE),
               (json.dumps(meta, indent=2) + '\n').encode('utf-8'))


def add_digests(bank: Bank, digests: Sequence[DigestEntry],
                source: dict) -> Bank:
  """``bank`` with ``digests`` added; a digest already listed is replaced."""
  return bank._replace(
      digests=digest_lists.merge_digests(bank.digests, digests),
      sources=bank.sources + (source,))


def add_entries(bank: Bank, entries: Sequence[BankEntry],
                source: dict) -> Bank:
  """``bank`` with ``entries`` added; an entry_id already there is replaced."""
  ids = [e.entry_id for e in entries]
  if len(set(ids)) != len(ids):
    raise ValueError('an import names the same entry_id twice: '
                     f'{sorted({i for i in ids if ids.count(i) > 1})}')
  kept = tuple(e for e in bank.entries if e.entry_id not in set(ids))
  return bank._replace(entries=kept + tuple(entries),
                       sources=bank.sources + (source,))


def load_index(path: str, rules: MatchRules = MatchRules()) -> BankIndex:
  """A bank prepared for matching, named by its id."""
  c = _columns(_read_entries(path))
  return index_from_arrays(c.entry_ids, c.labels, c.lengths, c.pdq,
                           c.quality, rules, bank=_read_meta(path)['id'],
                           source_clip_ids=c.source_clip_ids)


def entry_id_for(uri: str) -> str:
  """A file's entry id: its name without the extension."""
  return posixpath.splitext(posixpath.basename(uri.rstrip('/')))[0]


def _now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(
      timespec='seconds')


def _file_entries(files: Sequence[str], kind: str, label: str,
                  entry_id: Optional[str],
                  entry_per_hash: bool) -> List[BankEntry]:
  if entry_id and len(files) != 1:
    raise ValueError('--entry-id needs exactly one input file')
  entries, seen = [], set()
  for uri in files:
    text = _read_bytes(uri).decode('utf-8')
    hashes = (parse_vpdq(text, uri) if kind == SOURCE_VPDQ
              else parse_pdq_hex(text, uri))
    if not entry_per_hash:
      entries.append(_entry(entry_id or entry_id_for(uri), label, hashes))
      continue
    for h in hashes:   # an image list: one entry per distinct hash
      if pdq_hex(h.pdq) not in seen:
        seen.add(pdq_hex(h.pdq))
        entries.append(_entry(pdq_hex(h.pdq), label, [h]))
  return entries


@dataclasses.dataclass(frozen=True)
class ImportRequest:
  """One ``bank import``: the bank, and exactly one source of hashes
  (``vpdq`` files, ``pdq_hex`` files, or a ``frame_hashes`` root with the
  ``video_ids`` to take from it)."""
  bank: str
  bank_id: str
  label: str
  vpdq: Tuple[str, ...] = ()
  pdq_hex: Tuple[str, ...] = ()
  frame_hashes: Optional[str] = None
  video_ids: Tuple[str, ...] = ()
  hash_scan_id: Optional[str] = None
  entry_id: Optional[str] = None
  entry_per_hash: bool = False
  md5: Tuple[str, ...] = ()
  sha256: Tuple[str, ...] = ()
  # ``--from-verdicts ROOT``: the root, and the confirmed clips found in it.
  from_verdicts: Optional[str] = None
  clips: Tuple[ClipSource, ...] = ()


def read_digest_list(uri: str, kind: str) -> List[Tuple[str, Optional[str]]]:
  """One exact-match list file, checked whole (``digests``): its size
  before a byte is read, then every line."""
  found = FileSystems.match([uri])[0].metadata_list
  if found:
    digest_lists.check_size(found[0].size_in_bytes, uri)
  return digest_lists.parse_digest_list(_read_bytes(uri), kind, uri)


def _digest_entries(request: ImportRequest, kind: str
                    ) -> Tuple[List[str], List[DigestEntry]]:
  if request.entry_id or request.entry_per_hash:
    raise ValueError('--entry-id and --entry-per-hash do not apply to '
                     f'--{kind}: a list names its entries')
  uris = expand_files(getattr(request, kind))
  parsed: List[Tuple[str, Optional[str]]] = []
  for uri in uris:
    parsed += read_digest_list(uri, kind)
  unique: Dict[str, Optional[str]] = {}
  for digest, name in parsed:   # a digest in several files: the first name
    unique.setdefault(digest, name)
  return uris, digest_lists.digest_entries(unique.items(), kind,
                                           request.label)


def _open_bank(request: ImportRequest, now: str) -> Bank:
  if bank_exists(request.bank):
    bank = load_bank(request.bank)
    if bank.bank_id != request.bank_id:
      raise ValueError(f'{request.bank} is bank {bank.bank_id!r}, not '
                       f'{request.bank_id!r}')
    return bank
  return Bank(request.bank_id, request.label, now, (), ())


def _listed(ids: Sequence[str]):
  """What ``bank.json`` records of an import's entries: their ids, or
  their count when there are many."""
  return list(ids) if len(ids) <= 1000 else len(ids)


def import_bank(request: ImportRequest) -> Tuple[Bank, int]:
  """Runs one ``bank import``; returns the saved bank and entries added
  (digests, for an exact-match list)."""
  if sum(map(bool, (request.vpdq, request.pdq_hex, request.frame_hashes,
                    request.md5, request.sha256,
                    request.from_verdicts))) != 1:
    raise ValueError('import needs exactly one of --vpdq, --pdq-hex, '
                     '--frame-hashes, --md5, --sha256 and --from-verdicts')
  if request.md5 or request.sha256:
    kind = SOURCE_MD5 if request.md5 else SOURCE_SHA256
    uris, digests = _digest_entries(request, kind)
    now = _now()
    bank = _open_bank(request, now)
    bank = add_digests(bank, digests, {
        'kind': kind, 'uris': uris, 'label': request.label,
        'entries': _listed(sorted({d.entry_id for d in digests})),
        'digests': len(digests), 'imported_at': now})
    save_bank(request.bank, bank)
    return bank, len(digests)
  if request.from_verdicts:
    if request.entry_id or request.entry_per_hash:
      raise ValueError('--entry-id and --entry-per-hash do not apply to '
                       '--from-verdicts: entries are named by clip id')
    if not request.clips:
      raise ValueError(f'no confirmed clip under {request.from_verdicts}')
    entries = clip_entries(read_frame_hashes(request.from_verdicts),
                           request.clips, request.label)
    kind, uris = SOURCE_VERDICTS, [request.from_verdicts]
  elif request.frame_hashes:
    if not request.video_ids:
      raise ValueError('--frame-hashes needs at least one --video-id')
    found = latest_frame_hashes(read_frame_hashes(request.frame_hashes),
                                request.video_ids, request.hash_scan_id)
    missing = [v for v in request.video_ids if v not in found]
    if missing:
      raise ValueError(f'no frame hashes for {missing} under '
                       f'{request.frame_hashes}')
    entries = [_entry(v, request.label, found[v]) for v in request.video_ids]
    kind, uris = SOURCE_FRAME_HASHES, [request.frame_hashes]
  else:
    kind = SOURCE_VPDQ if request.vpdq else SOURCE_PDQ_HEX
    if request.entry_per_hash and kind != SOURCE_PDQ_HEX:
      raise ValueError('--entry-per-hash applies to --pdq-hex only')
    uris = expand_files(request.vpdq or request.pdq_hex)
    entries = _file_entries(uris, kind, request.label, request.entry_id,
                            request.entry_per_hash)
  now = _now()
  bank = _open_bank(request, now)
  source = {'kind': kind, 'uris': list(uris), 'label': request.label,
            'entries': _listed([e.entry_id for e in entries]),
            'imported_at': now}
  if request.frame_hashes:
    source['video_ids'] = list(request.video_ids)
    source['hash_scan_id'] = request.hash_scan_id
  if request.from_verdicts:
    source['clip_ids'] = _listed([c.clip_id for c in request.clips])
    source['outcomes'] = sorted({c.outcome for c in request.clips})
  bank = add_entries(bank, entries, source)
  if request.from_verdicts:
    bank = bank._replace(match_rules=CLIP_MATCH_RULES)
  save_bank(request.bank, bank)
  return bank, len(entries)
