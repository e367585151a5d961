"""The match job: stored frame hashes against hash banks, no decoding
(run by ``rescan match``, ``pipeline.cli.match``).

    rescan match --hashes ROOT --bank PATH [--bank PATH2 ...] --output ROOT
                 [--scan-id ID] [--hash-scan-id ID] [rule flags] [BEAM FLAGS]

Reads ``ROOT/frame_hashes/*/*.parquet``, keeps each video's hashes from its
latest scan (or from ``--hash-scan-id``), matches every video against every
entry of the banks by vPDQ's rules (``pipeline.hashes.matching``), and writes
``OUTPUT/hash_matches/scan=<id>/part-*.parquet`` (kind ``vpdq``).  When a
bank holds exact-match lists (``--md5``/``--sha256`` imports), it also reads
the ledgers ``ROOT/videos/*/*.parquet`` and reports every video whose latest
row's ``content_md5`` or ``content_sha256`` a bank lists (kind ``md5`` /
``sha256``, ``pipeline.hashes.digests``).

    MatchStoredHashes: ReadFrameHashes -> RowsToFrameHashes -> MatchHashes
      (KeyHashesByVideo -> GroupHashesByVideo -> MatchVideos)
    MatchStoredDigests: ReadLedgers -> KeyLedgerByVideo
      -> GroupLedgerByVideo -> MatchDigests
    -> FlattenMatches -> WriteHashMatches

``MatchHashes`` (``match_hashes_transform``) is the step a scan reuses to
match the hashes it computes in its own decode pass.  As a Beam job, its
flags are parsed here (``parse_match_args``, into a ``MatchConfig``), so
that ``run(argv)`` launches it from a command line or a template;
``build_pipeline`` only chains the steps.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import sys
from typing import (Iterable, Iterator, List, NamedTuple, Optional,
                    Sequence, Tuple)

import apache_beam as beam
from apache_beam.metrics import Metrics

import schemas

from pipeline.hashes import banks as hash_banks
from pipeline.hashes import digests as digest_matching
from pipeline.runtime import runners
from pipeline.runtime import flag_types
from pipeline.runtime import usage
from pipeline.scan import progress
from pipeline.hashes.matching import BankIndex
from pipeline.hashes.matching import HashMatch
from pipeline.hashes.matching import MatchRules
from pipeline.hashes.matching import frame_hashes_from_records
from pipeline.hashes.matching import hash_matches
from pipeline.hashes.pdq import FrameHash
from pipeline.storage.scan_ids import new_scan_id
from pipeline.storage.scan_ids import scan_id_arg
from pipeline.storage import claims
from pipeline.storage import writable
from pipeline.storage import scan_state
from pipeline.storage.parquet import ReadFiles
from pipeline.storage.parquet import check_parquet_footers
from pipeline.storage.parquet import WriteDataset



def frame_hash_from_row(row: dict) -> FrameHash:
  mirror = row.get('pdq_mirror')   # absent from files written before it
  return FrameHash(row['video_id'], row['video_uri'], int(row['ts_ms']),
                   bytes(row['pdq']), int(row['quality']), row['scan_id'],
                   bytes(mirror) if mirror is not None else None)


def latest_scan(records: Iterable[FrameHash],
                scan_id: Optional[str] = None) -> List[FrameHash]:
  """One video's rows from ``scan_id`` or from its latest scan (scan ids
  sort by time), without repeated ``(ts_ms, pdq)`` rows."""
  rows = list(records)
  if scan_id is None and rows:
    scan_id = max(r.scan_id for r in rows)
  unique = {(r.ts_ms, r.pdq): r for r in rows if r.scan_id == scan_id}
  return sorted(unique.values(), key=lambda r: r.ts_ms)


def _key_by_video(record: FrameHash) -> Tuple[str, FrameHash]:
  return record.video_id, record


class MatchVideoFn(beam.DoFn):
  """One video's frame hashes -> its ``hash_matches`` rows (kind
  ``vpdq``) against the banks."""

  def __init__(self, bank_paths: Sequence[str], rules: MatchRules,
               scan_id: str, hash_scan_id: Optional[str] = None,
               rule_flags: Sequence[str] = ()):
    self._bank_paths = tuple(bank_paths)
    self._rules = rules
    self._rule_flags = tuple(rule_flags)
    self._scan_id = scan_id
    self._hash_scan_id = hash_scan_id
    self._indexes: Tuple[Tuple[BankIndex, MatchRules], ...] = ()
    self._videos = Metrics.counter(progress.NAMESPACE, 'videos_hash_matched')
    self._matches = Metrics.counter(progress.NAMESPACE, 'hash_matches')
    self._pairs = Metrics.counter(progress.NAMESPACE,
                                  'hash_pairs_compared')

  def setup(self):
    # Each bank with its own rules (a bank of clips has some), the rule
    # flags given on the command line overriding them.
    self._indexes = tuple(
        (hash_banks.load_index(path, rules), rules)
        for path in self._bank_paths
        for rules in [hash_banks.bank_rules(path, self._rules,
                                            self._rule_flags)])

  def process(self, element: Tuple[str, Iterable[FrameHash]]
              ) -> Iterator[HashMatch]:
    video_id, records = element
    rows = latest_scan(records, self._hash_scan_id)
    if not rows:
      return
    query = frame_hashes_from_records(rows)
    matches = [match for index, rules in self._indexes
               for match in hash_matches(video_id, rows[0].video_uri,
                                         self._scan_id, query, [index], rules)]
    self._videos.inc()
    self._matches.inc(len(matches))
    orientations = 1 if query.mirror is None else 2
    self._pairs.inc(orientations * len(rows) *
                    sum(i.words.shape[1] for i, _ in self._indexes))
    yield from matches


class MatchHashes(beam.PTransform):
  """``FrameHash`` records of any number of videos -> ``hash_matches``
  rows."""

  def __init__(self, bank_paths: Sequence[str], rules: MatchRules,
               scan_id: str, hash_scan_id: Optional[str] = None,
               rule_flags: Sequence[str] = ()):
    super().__init__()
    self._fn = MatchVideoFn(bank_paths, rules, scan_id, hash_scan_id,
                            rule_flags)

  def expand(self, hashes):
    return (hashes
            | 'KeyHashesByVideo' >> beam.Map(_key_by_video)
            | 'GroupHashesByVideo' >> beam.GroupByKey()
            | 'MatchVideos' >> beam.ParDo(self._fn))


def match_hashes_transform(bank_paths: Sequence[str],
                           rules: MatchRules = MatchRules(),
                           scan_id: str = '',
                           hash_scan_id: Optional[str] = None,
                           rule_flags: Sequence[str] = ()) -> MatchHashes:
  """The matching step, for the match job and for a scan's ``--bank``:
  each bank by its own rules (``banks.bank_rules``) if it has some, else
  by ``rules``; the fields named in ``rule_flags`` always by ``rules``."""
  return MatchHashes(bank_paths, rules, scan_id, hash_scan_id, rule_flags)


class MatchDigestsFn(beam.DoFn):
  """One video's ledger rows -> the exact matches of its latest row (or
  of ``--hash-scan-id``'s) against the banks' digest lists."""

  def __init__(self, bank_paths: Sequence[str], scan_id: str,
               hash_scan_id: Optional[str] = None):
    self._bank_paths = tuple(bank_paths)
    self._scan_id = scan_id
    self._hash_scan_id = hash_scan_id
    self._index: digest_matching.DigestIndex = {}
    self._matches = Metrics.counter(progress.NAMESPACE, 'digest_matches')

  def setup(self):
    self._index = digest_matching.digest_index(
        hash_banks.load_digests(path) for path in self._bank_paths)

  def process(self, element: Tuple[str, Iterable[dict]]
              ) -> Iterator[HashMatch]:
    _, rows = element
    row = digest_matching.latest_row(rows, self._hash_scan_id)
    if row is None:
      return
    matches = digest_matching.ledger_matches(row, self._index, self._scan_id)
    self._matches.inc(len(matches))
    yield from matches


def _key_row_by_video(row: dict) -> Tuple[str, dict]:
  return row['video_id'], row


def _ledger_paths(root: str, hash_scan_id: Optional[str]) -> List[str]:
  return scan_state.committed_paths(root, 'videos', hash_scan_id)


class MatchStoredDigests(beam.PTransform):
  """Pipeline start -> exact ``hash_matches`` rows of every video whose
  ledger under root records a digest a bank lists."""

  def __init__(self, root: str, bank_paths: Sequence[str], scan_id: str,
               hash_scan_id: Optional[str] = None):
    super().__init__()
    self._paths = _ledger_paths(root, hash_scan_id)
    self._fn = MatchDigestsFn(bank_paths, scan_id, hash_scan_id)

  def expand(self, pbegin):
    return (pbegin
            | 'ReadLedgers' >> ReadFiles(self._paths)
            | 'KeyLedgerByVideo' >> beam.Map(_key_row_by_video)
            | 'GroupLedgerByVideo' >> beam.GroupByKey()
            | 'MatchDigests' >> beam.ParDo(self._fn))


class MatchStoredHashes(beam.PTransform):
  """Pipeline start -> ``hash_matches`` rows of every video stored under
  root."""

  def __init__(self, hashes_root: str, bank_paths: Sequence[str],
               rules: MatchRules, scan_id: str,
               hash_scan_id: Optional[str] = None,
               rule_flags: Sequence[str] = ()):
    super().__init__()
    self._paths = scan_state.committed_paths(hashes_root, 'frame_hashes',
                                             hash_scan_id)
    self._match = match_hashes_transform(bank_paths, rules, scan_id,
                                         hash_scan_id, rule_flags)

  def expand(self, pbegin):
    return (pbegin
            | 'ReadFrameHashes' >> ReadFiles(self._paths)
            | 'RowsToFrameHashes' >> beam.Map(frame_hash_from_row)
            | 'MatchHashes' >> self._match)


# Bounds of the matching rules: a PDQ quality is 0..100, a distance
# between two 256-bit hashes 0..256, a share of hashes 0..100 %.
QUALITY = flag_types.in_range('quality_threshold', int, 0, 100)
DISTANCE = flag_types.in_range('distance_threshold', int, 0, 256)
PERCENT = flag_types.in_range('match_pct', float, 0, 100)


def build_arg_parser() -> argparse.ArgumentParser:
  parser = usage.OneLineArgumentParser(
      prog='rescan match',
      description='Match stored frame hashes against hash banks by vPDQ\'s '
      'rules, and the ledgers\' file digests against their exact-match '
      'lists, and write ROOT/hash_matches/. Decodes no video. Beam\'s own '
      'flags go to Beam; any other flag is an error.')
  parser.add_argument('--hashes', required=True, metavar='ROOT',
                      help='output root holding frame_hashes/ (and the '
                      'ledgers videos/, matched exactly against the banks\' '
                      'md5/sha256 lists)')
  parser.add_argument('--bank', required=True, action='append',
                      metavar='PATH', help='a hash bank folder (repeatable)')
  parser.add_argument('--output', required=True, metavar='ROOT',
                      help='where hash_matches/scan=<id>/ goes')
  parser.add_argument('--scan-id', '--scan_id', dest='scan_id',
                      type=scan_id_arg, default=None,
                      help='id of this match run (default: UTC time plus a '
                      'random suffix)')
  parser.add_argument('--hash-scan-id', '--hash_scan_id', dest='hash_scan_id',
                      default=None, help='match the hashes of this scan only '
                      '(default: each video\'s latest scan)')
  defaults = MatchRules()
  parser.add_argument('--quality-threshold', type=QUALITY,
                      default=None,
                      help='drop frames of lower PDQ quality '
                      f'(default {defaults.quality_threshold})')
  parser.add_argument('--distance-threshold', type=DISTANCE,
                      default=None,
                      help='frames match at this Hamming distance or less '
                      f'(default {defaults.distance_threshold})')
  parser.add_argument('--query-match-pct', type=PERCENT,
                      default=None,
                      help='share of the video\'s hashes that must be found '
                      f'in an entry (default {defaults.query_match_pct}; a '
                      'bank of clips has its own rules, which a flag '
                      'overrides)')
  parser.add_argument('--compared-match-pct', type=PERCENT,
                      default=None,
                      help='share of the entry\'s hashes that must be found '
                      f'in the video (default {defaults.compared_match_pct})')
  return parser


@dataclasses.dataclass(frozen=True)
class MatchConfig:
  """Everything a match job needs besides Beam's own options."""
  hashes: str
  banks: Tuple[str, ...]
  output: str
  scan_id: str
  hash_scan_id: Optional[str] = None
  rules: MatchRules = MatchRules()
  beam_args: Tuple[str, ...] = ()
  # The rules given as flags: they override a bank's own rules.
  rule_flags: Tuple[str, ...] = ()


def parse_match_args(argv: Sequence[str],
                     now: Optional[datetime.datetime] = None) -> MatchConfig:
  """Parses our flags; the flags we do not know are kept for Beam (on the
  DirectRunner unless they name a runner) and must be Beam's
  (``usage.check_beam_args``: a typo is a usage error)."""
  args, beam_args = usage.parse_job_args(build_arg_parser(), argv)
  now = now or datetime.datetime.now(datetime.timezone.utc)
  given = {name: getattr(args, name) for name in MatchRules._fields
           if getattr(args, name) is not None}
  return MatchConfig(
      hashes=args.hashes, banks=tuple(args.bank), output=args.output,
      scan_id=args.scan_id or new_scan_id(now),
      hash_scan_id=args.hash_scan_id,
      rules=MatchRules()._replace(**given),
      beam_args=tuple(beam_args), rule_flags=tuple(sorted(given)))


class MatchSources(NamedTuple):
  """Which halves of the job have something to match: stored frame hashes
  (perceptual), and ledgers together with a bank digest list (exact)."""
  perceptual: bool
  exact: bool


def match_sources(config: MatchConfig) -> MatchSources:
  return MatchSources(
      bool(scan_state.committed_paths(config.hashes, 'frame_hashes')),
      any(hash_banks.has_digests(path) for path in config.banks)
      and bool(_ledger_paths(config.hashes, config.hash_scan_id)))


def check_inputs(config: MatchConfig) -> MatchSources:
  """Fails before any pipeline starts when a bank is missing, or when
  there is nothing to match: no stored frame hashes, and no ledger for a
  bank's digest list (``FileNotFoundError``)."""
  for path in config.banks:
    if not hash_banks.bank_exists(path):
      raise FileNotFoundError(f'no hash bank at {path}')
  sources = match_sources(config)
  pattern = schemas.dataset_glob(config.hashes, 'frame_hashes')
  if not (sources.perceptual or sources.exact):
    raise FileNotFoundError(f'no frame hashes match {pattern}')
  # A garbage file would fail ReadFrameHashes (or ReadLedgers) inside
  # Beam: name it now.
  if sources.perceptual:
    check_parquet_footers(scan_state.committed_paths(config.hashes,
                                                     'frame_hashes'))
  if sources.exact:
    check_parquet_footers(_ledger_paths(config.hashes, config.hash_scan_id))
  return sources


def build_pipeline(p: beam.Pipeline, config: MatchConfig) -> beam.PCollection:
  """Adds the match job to ``p``; returns its ``hash_matches`` rows."""
  sources = match_sources(config)
  found = []
  if sources.perceptual or not sources.exact:
    found.append(p | 'MatchStoredHashes' >> MatchStoredHashes(
        config.hashes, config.banks, config.rules, config.scan_id,
        config.hash_scan_id, config.rule_flags))
  if sources.exact:
    found.append(p | 'MatchStoredDigests' >> MatchStoredDigests(
        config.hashes, config.banks, config.scan_id, config.hash_scan_id))
  matches = (found[0] if len(found) == 1 else
             tuple(found) | 'FlattenMatches' >> beam.Flatten())
  _ = matches | 'WriteHashMatches' >> WriteDataset(
      config.output, 'hash_matches', config.scan_id)
  return matches


def run(argv: Optional[Sequence[str]] = None,
        test_pipeline: Optional[beam.Pipeline] = None) -> MatchConfig:
  """Runs one match job to completion; returns its config (where the
  matches went: ``output`` and ``scan_id``)."""
  config = parse_match_args(sys.argv[1:] if argv is None else argv)
  check_inputs(config)
  writable.check_datasets_writable(config.output, ('hash_matches',))
  claims.claim_scan(config.output, config.scan_id, tool='match',
                    beam_args=config.beam_args)
  p = test_pipeline or runners.create_pipeline(config.beam_args)
  build_pipeline(p, config)
  scan_state.run_recorded(config.output, config.scan_id,
                          lambda: p.run().wait_until_finish(),
                          f'the match run {config.scan_id}')
  return config
