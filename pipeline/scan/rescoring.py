"""Clips re-assembled from stored ``frame_scores`` rows, without decoding.

The scan's own clip assembly (``ledger.clips_of_scores``, over
``clips.assemble_clips``) runs on the scores a scan stored, with the scan's
own clip rules (recorded on every ``frame_scores`` row) and another
threshold.  Because the stored score is the model's float32 output, exactly
what the scan compared, the clips equal those a fresh scan at that threshold
writes.  ``rescan rethreshold`` writes them as a new partition; ``rescan
review top --min-score`` below a scan's threshold lists them (near-misses).
Pure: tables in, records out.

Only the visual model's rows are re-assembled (``visual_rows``): an audio
window stands for its whole ``window_seconds``, which ``frame_scores``
does not record, so the audio rows of a scan with ``--audio-model`` are
left out (and its audio clips are not rewritten).
"""
from __future__ import annotations

import dataclasses
from typing import (Callable, Dict, Iterable, List, Mapping, Optional,
                    Sequence, Tuple)

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.records import FlaggedClip
from pipeline.records import FrameScore
from pipeline.scan import clips as clip_assembly
from pipeline.scan import ledger
from schemas.tables import MODALITY_VISUAL

VideoKey = Tuple[str, str]   # (video_id, video_uri)
_RULE_COLUMNS = ('sample_interval_ms', 'merge_gap_ms', 'min_clip_ms')


class ScoresMismatch(ValueError):
  """Stored scores that cannot be re-assembled: a video without its
  ledger row, or a scan whose rows disagree on its clip rules."""


@dataclasses.dataclass(frozen=True)
class LedgerVideo:
  """What clip assembly needs from a video's ledger row."""
  duration_ms: int
  model_name: str
  model_version: str
  scanned_at: object


def visual_rows(frame_scores: pa.Table) -> pa.Table:
  """The rows of the visual model's scores (files written before audio
  have no ``modality`` column: all of theirs)."""
  if 'modality' not in frame_scores.column_names:
    return frame_scores
  return frame_scores.filter(pc.equal(frame_scores.column('modality'),
                                      MODALITY_VISUAL))


def is_visual(row: Mapping) -> bool:
  """Whether a stored row (a dict) is the visual model's."""
  return row.get('modality', MODALITY_VISUAL) == MODALITY_VISUAL


def stored_rules(frame_scores: pa.Table, threshold: float
                 ) -> clip_assembly.ClipRules:
  """The clip rules one scan recorded with its visual scores, at
  ``threshold``."""
  frame_scores = visual_rows(frame_scores)
  values = {}
  for column in _RULE_COLUMNS:
    distinct = set(frame_scores.column(column).to_pylist())
    if len(distinct) != 1:
      raise ScoresMismatch(f'frame_scores hold {len(distinct)} values of '
                           f'{column} for one scan; expected one')
    values[column] = distinct.pop()
  return clip_assembly.ClipRules(threshold=threshold, **values)


def stored_thresholds(frame_scores: pa.Table) -> List[float]:
  """The thresholds the scan(s) of ``frame_scores`` ran at."""
  return sorted(set(frame_scores.column('threshold').to_pylist()))


def ledger_video(row: Mapping) -> LedgerVideo:
  """What clip assembly needs from one ledger row."""
  return LedgerVideo(row['duration_ms'], row['model_name'],
                     row['model_version'], row['scanned_at'])


def ledger_videos(videos: pa.Table) -> Dict[VideoKey, LedgerVideo]:
  """A scan's ledger rows by video."""
  return {(row['video_id'], row['video_uri']): ledger_video(row)
          for row in videos.select(list(LEDGER_COLUMNS)).to_pylist()}


# (label, ts_ms, score): one stored row of one video.
StoredScore = Tuple[str, int, float]
LEDGER_COLUMNS = ('video_id', 'video_uri', 'duration_ms', 'model_name',
                  'model_version', 'scanned_at')
SCORE_COLUMNS = ('video_id', 'video_uri', 'label', 'ts_ms', 'score',
                 'modality')


def video_samples(key: VideoKey, rows: Iterable[StoredScore]
                  ) -> Tuple[Tuple[str, ...], List[FrameScore]]:
  """One video's stored rows as the scan had its samples: its labels and
  one ``FrameScore`` per sample time."""
  curves: Dict[str, Dict[int, float]] = {}
  for label, ts_ms, score in rows:
    curves.setdefault(label, {})[ts_ms] = score
  names = tuple(sorted(curves))
  times = sorted(set().union(*(curve.keys() for curve in curves.values())))
  missing = [name for name in names if len(curves[name]) != len(times)]
  if missing:
    raise ScoresMismatch(f'video {key[1]}: label {missing[0]!r} lacks '
                         'scores at some sample times')
  return names, [FrameScore(ts, tuple(curves[name][ts] for name in names))
                 for ts in times]


def video_clips(key: VideoKey, rows: Iterable[StoredScore],
                video: Optional[LedgerVideo],
                rules: clip_assembly.ClipRules, origin: ledger.ClipOrigin,
                thumbnails: Optional[Mapping[int, bytes]] = None
                ) -> List[FlaggedClip]:
  """One video's clips from its stored rows, by the scan's own clip
  assembly (``ledger.clips_of_scores``) under ``rules``; ``thumbnails``
  maps a sample time to the JPEG the scan kept of it."""
  if video is None or video.duration_ms is None:
    raise ScoresMismatch(f'video {key[1]} has frame_scores but no ledger '
                         'row with its duration in the same scan')
  names, samples = video_samples(key, rows)
  if thumbnails:
    samples = [s._replace(thumbnail=thumbnails.get(s.ts_ms))
               for s in samples]
  return ledger.clips_of_scores(key[0], key[1], video.duration_ms, samples,
                                names, rules, origin)


def thumbnails_of(clips: pa.Table) -> Dict[VideoKey, Dict[int, bytes]]:
  """``(video_id, video_uri)`` -> ``peak_ms`` -> the JPEG a scan kept of
  that sample."""
  found: Dict[VideoKey, Dict[int, bytes]] = {}
  for row in clips.select(['video_id', 'video_uri', 'peak_ms',
                           'thumbnail']).to_pylist():
    if row['thumbnail'] is not None:
      found.setdefault((row['video_id'], row['video_uri']), {})[
          row['peak_ms']] = row['thumbnail']
  return found


def reassembled_clips(frame_scores: pa.Table, videos: pa.Table,
                      threshold: float,
                      origin: Callable[[LedgerVideo], ledger.ClipOrigin],
                      labels: Sequence[str] = (),
                      thumbnails: Optional[Mapping[
                          VideoKey, Mapping[int, bytes]]] = None
                      ) -> List[FlaggedClip]:
  """The clips of one scan's stored scores at ``threshold`` (only
  ``labels`` when given), by its own clip assembly and rules: what the
  review reads in memory (``rescan rethreshold`` runs ``video_clips`` in
  a Beam job).

  ``videos`` is the scan's ledger (durations and model); ``origin`` names
  the run the clips belong to; ``thumbnails`` is ``thumbnails_of`` the
  scan's clips."""
  frame_scores = visual_rows(frame_scores)
  if frame_scores.num_rows == 0:
    return []
  rules = stored_rules(frame_scores, threshold)
  ledger_rows = ledger_videos(videos)
  thumbnails = thumbnails or {}
  by_video: Dict[VideoKey, List[StoredScore]] = {}
  columns = frame_scores.select(list(SCORE_COLUMNS[:5])).to_pydict()
  for video_id, uri, label, ts_ms, score in zip(*columns.values()):
    if not labels or label in labels:
      by_video.setdefault((video_id, uri), []).append((label, ts_ms, score))
  clips: List[FlaggedClip] = []
  for key, rows in sorted(by_video.items()):
    video = ledger_rows.get(key)
    clips.extend(video_clips(key, rows, video, rules,
                             origin(video) if video else None,
                             thumbnails.get(key)))
  return clips
