"""What the reviewer's tools read from ``frame_scores``: near-misses for
``review top --min-score`` below a scan's threshold, and each video's
per-sample score curves for the page's timeline.

A scan stores clips at or above its threshold only; with ``frame_scores``
(on by default) it also stored every sample's score.  Asked for clips down
to a lower score, the review reads those scores and re-assembles the
scan's clips at that score with the scan's own clip assembly
(``pipeline.scan.rescoring``): the clips a scan at that threshold would
have flagged, with the same clip ids.  A scan that ran with
``--no-frame-scores`` cannot answer below its threshold: that is an error
naming the scan, never a silently shorter list.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.compute as pc

import schemas
from pipeline.review import query as review_query
from pipeline.scan import ledger
from pipeline.scan import rescoring
from pipeline.scan import rethreshold
from pipeline.storage import parquet as parquet_output


@dataclasses.dataclass(frozen=True)
class NearMisses:
  """``data`` with the clips of ``scans`` re-assembled at ``min_score``
  (scan id -> its own threshold)."""
  data: review_query.ReviewData
  min_score: float
  scans: Dict[str, float]

  def note(self) -> str:
    """One line saying where the clips below the thresholds came from."""
    if not self.scans:
      return ''
    listed = ', '.join(f'{scan} (threshold {threshold:g})'
                       for scan, threshold in sorted(self.scans.items()))
    return (f'near-misses: clips of scan {listed} re-assembled at '
            f'{self.min_score:g} from frame_scores')


def _scan_threshold(scores: Optional[pa.Table], clips: pa.Table
                    ) -> Optional[float]:
  """A scan's threshold: recorded with its scores, else on its clips."""
  for table in (scores, clips):
    if table is not None and table.num_rows:
      return max(rescoring.stored_thresholds(table))
  return None


def _of_scan(table: pa.Table, scan_id: str) -> pa.Table:
  if table.num_rows == 0:
    return table
  return table.filter(pc.equal(table.column('scan_id'), scan_id))


def _of_modality(table: Optional[pa.Table], modality: str,
                 keep: bool = True) -> Optional[pa.Table]:
  """The rows of ``table`` of ``modality`` (or, ``keep=False``, the
  others)."""
  if table is None or table.num_rows == 0:
    return table
  mask = pc.equal(table.column('modality'), modality)
  return table.filter(mask if keep else pc.invert(mask))


def with_near_misses(root: str, data: review_query.ReviewData,
                     min_score: float, labels: Sequence[str] = ()
                     ) -> NearMisses:
  """``data`` where every answering scan whose threshold is above
  ``min_score`` has its clips re-assembled at ``min_score`` from its
  stored scores (of ``labels`` only, when given).  A scan that stored no
  scores and flagged at a higher threshold raises ``ReviewUsageError``."""
  stored = set(rethreshold.scans_with(root, 'frame_scores'))
  sources = review_query.rethreshold_sources(data)
  answering = sorted(set(data.videos.column('scan_id').to_pylist())
                     - set(sources.values()))
  clips: List[pa.Table] = [data.clips.filter(pc.invert(pc.is_in(
      data.clips.column('scan_id'), pa.array(answering, pa.string()))))
                           if data.clips.num_rows else data.clips]
  done: Dict[str, float] = {}
  visual = schemas.MODALITY_VISUAL
  for scan_id in answering:
    # Only the visual model's clips are re-assembled (the ledger's model
    # is the visual one); the audio model's stay as the scan flagged them.
    all_clips = _of_scan(data.clips, scan_id)
    clips.append(_of_modality(all_clips, visual, keep=False))
    scan_clips = _of_modality(all_clips, visual)
    videos = _of_scan(data.videos, scan_id)
    scores = _of_modality(parquet_output.read_partition_rows(
        root, 'frame_scores', scan_id, 'video_id',
        videos.column('video_id').to_pylist())
                          if scan_id in stored else None, visual)
    threshold = _scan_threshold(scores, scan_clips)
    if threshold is None or threshold <= min_score:
      clips.append(scan_clips)
      continue
    if scores is None:
      raise review_query.ReviewUsageError(
          f'--min-score {min_score:g} is below the threshold {threshold:g} '
          f'of scan {scan_id}, which stored no frame_scores (it ran with '
          '--no-frame-scores): only its clips at or above '
          f'{threshold:g} exist; re-scan without --no-frame-scores, or ask '
          f'for --min-score {threshold:g} or more')
    answered = videos.select(['video_id', 'video_uri'])
    scores = scores.join(answered, keys=['video_id', 'video_uri'],
                         join_type='left semi')
    reassembled = rescoring.reassembled_clips(
        scores, videos, min_score,
        lambda video, scan_id=scan_id: ledger.ClipOrigin(
            video.model_name, video.model_version, scan_id,
            video.scanned_at),
        labels=labels, thumbnails=rescoring.thumbnails_of(scan_clips))
    clips.append(pa.Table.from_pylist(
        [clip._asdict() for clip in reassembled],
        schema=parquet_output.relaxed(schemas.FLAGGED_CLIPS)))
    done[scan_id] = threshold
  merged = pa.concat_tables([t.cast(parquet_output.relaxed(
      schemas.FLAGGED_CLIPS)) for t in clips])
  return NearMisses(dataclasses.replace(data, clips=merged), min_score,
                    done)


# (video_id, scan_id) -> (modality, label) -> [(ts_ms, score)] in time
# order (an audio curve's ts_ms: its windows' starts).
Curves = Dict[Tuple[str, str],
              Dict[Tuple[str, str], List[Tuple[int, float]]]]


def score_curves(root: str, data: review_query.ReviewData,
                 videos: Iterable[Tuple[str, str]]) -> Curves:
  """The stored per-sample scores of ``videos`` (``(video_id, scan_id)``;
  a rethreshold partition's videos read its source scan's scores), per
  modality and label (``Curves``).  A
  video whose scan stored no ``frame_scores`` has no curve."""
  sources = review_query.rethreshold_sources(data)
  wanted: Dict[str, Dict[str, str]] = {}   # scores' scan -> video -> key
  for video_id, scan_id in videos:
    wanted.setdefault(sources.get(scan_id, scan_id), {})[video_id] = scan_id
  stored = set(rethreshold.scans_with(root, 'frame_scores'))
  curves: Curves = {}
  for scan_id, keys in sorted(wanted.items()):
    if scan_id not in stored:
      continue
    scores = parquet_output.read_partition_rows(root, 'frame_scores',
                                                scan_id, 'video_id', keys)
    columns = scores.select(['video_id', 'modality', 'label', 'ts_ms',
                             'score']).to_pydict()
    for video_id, modality, label, ts_ms, score in zip(*columns.values()):
      curves.setdefault((video_id, keys[video_id]), {}).setdefault(
          (modality, label), []).append((ts_ms, score))
  for by_label in curves.values():
    for points in by_label.values():
      points.sort()
  return curves
