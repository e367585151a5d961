"""``rescan rethreshold``: one scan's clips re-assembled at another threshold
from its stored ``frame_scores``, written as a new ``flagged_clips``
partition.  Decodes nothing.

The new partition has its own id, claimed like a scan's or a match run's
(``pipeline.storage.claims``, tool ``rethreshold``), and every clip in it
records the scan it came from (``source_scan_id``) and the new
``threshold``.  It writes clips only, no ledger: the videos are those of
the source scan.  Readers keep one answer per video
(``pipeline.review.query``): a rethreshold partition never answers by
default (the scan's own clips do), and is shown when named with ``--scan``.
Only the visual model's scores are re-assembled (``rescoring.visual_rows``):
a scan's audio clips (``--audio-model``) are not rewritten.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
from typing import List, Optional, Sequence, Tuple

import apache_beam as beam

import schemas
from schemas.tables import PARTITION_KEY

from pipeline.runtime import runners
from pipeline.runtime.usage import listing
from pipeline.scan import ledger
from pipeline.scan import rescoring
from pipeline.scan.clips import ClipRules
from pipeline.storage import claims
from pipeline.storage import scan_state
from pipeline.storage import writable
from pipeline.storage.parquet import ReadFiles
from pipeline.storage.parquet import WriteDataset
from pipeline.storage.parquet import cast_file
from pipeline.storage.parquet import check_parquet_footers
from pipeline.storage.parquet import column_max
from pipeline.storage.parquet import open_parquet_file
from pipeline.storage.parquet import read_parquet_file
from pipeline.storage.parquet import read_partition
from pipeline.storage.scan_ids import new_scan_id

TOOL = 'rethreshold'


class RethresholdUsageError(ValueError):
  """A question the root cannot answer: no scan output, an unknown scan
  or label, a scan that stored no scores.  One line, exit status 2."""


def scans_with(root: str, dataset: str) -> List[str]:
  """The scan ids that wrote files of ``dataset`` under ``root``."""
  marker = f'/{PARTITION_KEY}='
  return sorted({path[path.rindex(marker) + len(marker):].split('/')[0]
                 for path in scan_state.committed_paths(root, dataset)})


def latest_scored_scan(root: str, scans: Sequence[str]) -> str:
  """Of ``scans``, the one whose ledger is the latest (``scanned_at``,
  then id), from the ledgers' footers (``column_max``)."""
  def when(scan_id: str) -> Tuple:
    # The footers' statistics, not the ledger's rows (a scan of 10^9).
    latest = column_max(scan_state.committed_paths(root, 'videos', scan_id),
                        'scanned_at')
    if latest is None:
      latest = datetime.datetime.min
    if latest.tzinfo is None:  # the ledger's times are UTC
      latest = latest.replace(tzinfo=datetime.timezone.utc)
    return latest, scan_id
  return max(scans, key=when)


@dataclasses.dataclass(frozen=True)
class Source:
  """The scan whose stored scores are re-assembled: its id, labels and
  clip rules (from one of its ``frame_scores`` files: every row of a scan
  carries the same), and the committed files the job reads
  (``scan_state.committed_paths``)."""
  scan_id: str
  labels: Tuple[str, ...]
  rules: ClipRules
  scores: List[str]
  ledger: List[str]
  clips: List[str]
  # Whether the scan also ran an audio model, whose clips are not
  # re-assembled (``heard``).
  heard: bool = False


def load_source(root: str, threshold: float,
                scan_id: Optional[str] = None,
                label: Optional[str] = None) -> Source:
  """The source scan (by default the latest that stored scores), checked
  before any work: an unknown root, scan or label, or a scan without
  ``frame_scores``, raises ``RethresholdUsageError``; a file of its
  partitions that is no Parquet, ``BrokenParquetFile``."""
  scanned = scans_with(root, 'videos')
  if not scanned:
    where = ('does not exist' if '://' not in root
             and not os.path.exists(root) else 'holds no scan output '
             '(no videos/ ledger)')
    raise RethresholdUsageError(f'{root} {where}; give the --output root '
                                'of a scan')
  scored = scans_with(root, 'frame_scores')
  if scan_id is None:
    if not scored:
      raise RethresholdUsageError(
          f'no scan under {root} stored frame_scores (they were scanned '
          'with --no-frame-scores); re-scan without it to rethreshold')
    scan_id = latest_scored_scan(root, scored)
  elif scan_id not in scanned:
    raise RethresholdUsageError(
        f'no scan {scan_id!r} under {root} (scans: {listing(scanned)})')
  elif scan_id not in scored:
    raise RethresholdUsageError(
        f'scan {scan_id} stored no frame_scores (it ran with '
        '--no-frame-scores); scans with scores: ' + listing(scored))
  scores, ledger_files, clips = (
      scan_state.committed_paths(root, dataset, scan_id)
      for dataset in ('frame_scores', 'videos', 'flagged_clips'))
  for paths in (scores, ledger_files, clips):
    check_parquet_footers(paths)
  sample = next((table for table in (
      rescoring.visual_rows(cast_file(read_parquet_file(path),
                                      schemas.FRAME_SCORES, path))
      for path in scores) if table.num_rows), None)
  if sample is None:
    raise RethresholdUsageError(f'scan {scan_id} stored no scores of a '
                                'visual model (its frame_scores are empty, '
                                'or hold audio windows only, which '
                                'rethreshold does not re-assemble)')
  labels = tuple(sorted(set(sample.column('label').to_pylist())))
  if label is not None and label not in labels:
    raise RethresholdUsageError(
        f'no label {label!r} in the frame_scores of scan {scan_id} '
        f'(labels: {listing(labels)})')
  return Source(scan_id, labels, rescoring.stored_rules(sample, threshold),
                scores, ledger_files, clips, heard(ledger_files))


def heard(ledger_files: Sequence[str]) -> bool:
  """Whether a scan's ledger names an audio model (from the footers'
  statistics of ``audio_model_version``; a ledger written before audio
  scanning has no such column and heard nothing)."""
  for path in ledger_files:
    with open_parquet_file(path) as parquet:
      if 'audio_model_version' not in parquet.schema_arrow.names:
        continue
    if column_max([path], 'audio_model_version') is not None:
      return True
  return False


def _key_scores(row: dict) -> Tuple[rescoring.VideoKey,
                                    rescoring.StoredScore]:
  return (row['video_id'], row['video_uri']), (row['label'], row['ts_ms'],
                                               row['score'])


def _key_row(row: dict) -> Tuple[rescoring.VideoKey, dict]:
  return (row['video_id'], row['video_uri']), row


class ReassembleVideoFn(beam.DoFn):
  """One video's stored scores, ledger row and source clips -> its clips
  at the new threshold (``rescoring.video_clips``), tagged with the run
  and the source scan."""

  def __init__(self, rules: ClipRules, scan_id: str, scanned_at: datetime.datetime,
               source_scan_id: str):
    self._rules = rules
    self._scan_id = scan_id
    self._scanned_at = scanned_at
    self._source_scan_id = source_scan_id

  def process(self, element):
    key, grouped = element
    rows = list(grouped['scores'])
    if not rows:
      return  # a ledger row (failed, skipped) with nothing scored
    video = next((rescoring.ledger_video(row) for row in grouped['ledger']),
                 None)
    origin = None if video is None else ledger.ClipOrigin(
        video.model_name, video.model_version, self._scan_id,
        self._scanned_at, source_scan_id=self._source_scan_id)
    thumbnails = {row['peak_ms']: row['thumbnail']
                  for row in grouped['clips'] if row['thumbnail']}
    yield from rescoring.video_clips(key, rows, video, self._rules, origin,
                                     thumbnails)


def add_rethreshold(p: beam.Pipeline, root: str, source: Source,
                    label: Optional[str], scan_id: str,
                    scanned_at: datetime.datetime) -> beam.PCollection:
  """Adds the job to ``p``: read the source scan's scores, ledger and
  clips, group them by video, re-assemble, write the new partition."""
  scores = (p
            | 'ReadFrameScores' >> ReadFiles(
                source.scores, columns=rescoring.SCORE_COLUMNS)
            | 'OnlyVisualScores' >> beam.Filter(rescoring.is_visual)
            | 'KeyScoresByVideo' >> beam.Map(_key_scores))
  if label is not None:
    scores = scores | 'OnlyLabel' >> beam.Filter(
        lambda keyed: keyed[1][0] == label)
  grouped = {
      'scores': scores,
      'ledger': (p
                 | 'ReadLedger' >> ReadFiles(
                     source.ledger, columns=rescoring.LEDGER_COLUMNS)
                 | 'KeyLedgerByVideo' >> beam.Map(_key_row)),
      'clips': (p
                | 'ReadSourceClips' >> ReadFiles(
                    source.clips, columns=['video_id', 'video_uri',
                                           'peak_ms', 'thumbnail'])
                | 'KeyClipsByVideo' >> beam.Map(_key_row)
                if source.clips else p | 'NoSourceClips' >> beam.Create([])),
  }
  clips = (grouped
           | 'GroupByVideo' >> beam.CoGroupByKey()
           | 'ReassembleClips' >> beam.ParDo(ReassembleVideoFn(
               source.rules, scan_id, scanned_at, source.scan_id)))
  _ = clips | 'WriteFlaggedClips' >> WriteDataset(root, 'flagged_clips',
                                                  scan_id)
  return clips


@dataclasses.dataclass(frozen=True)
class Result:
  source_scan_id: str
  scan_id: str
  threshold: float
  clips: int
  videos: int
  folder: str
  # The source scan's audio clips were left out (visual scores only).
  audio_left_out: bool = False


class RethresholdFailed(RuntimeError):
  """The job itself failed (a file unreadable mid-run, scores without
  their ledger row, a write): one line, exit status 1."""


def run(root: str, threshold: float, label: Optional[str] = None,
        source_scan_id: Optional[str] = None, scan_id: Optional[str] = None,
        beam_args: Sequence[str] = (),
        now: Optional[datetime.datetime] = None) -> Result:
  """Checks the source, claims the new id, runs the job (a Beam job on
  the local runner unless ``beam_args`` name one) and reads back what it
  wrote."""
  now = now or datetime.datetime.now(datetime.timezone.utc)
  scan_id = scan_id or new_scan_id(now)
  source = load_source(root, threshold, source_scan_id, label)
  writable.check_datasets_writable(root, ('flagged_clips',))
  claims.claim_scan(root, scan_id, tool=TOOL, beam_args=beam_args)
  p = runners.create_pipeline(beam_args)
  add_rethreshold(p, root, source, label, scan_id, now)
  try:
    scan_state.run_recorded(root, scan_id,
                            lambda: p.run().wait_until_finish(),
                            f'the rethreshold run {scan_id}')
  except Exception as exc:  # any failure inside Beam: one line, exit 1
    raise RethresholdFailed(
        f'the rethreshold run {scan_id} failed: '
        f'{" ".join(str(exc).split())[:500]}') from exc
  written = read_partition(root, 'flagged_clips', scan_id)
  return Result(source.scan_id, scan_id, threshold, written.num_rows,
                len(set(written.column('video_id').to_pylist())),
                schemas.partition_dir(root, 'flagged_clips', scan_id),
                source.heard)
