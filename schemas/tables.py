"""pyarrow schemas of the Parquet datasets a scan writes.

Layout under an output root ``ROOT``::

    ROOT/flagged_clips/scan=<SCAN_ID>/part-*.parquet
    ROOT/videos/scan=<SCAN_ID>/part-*.parquet
    ROOT/frame_scores/scan=<SCAN_ID>/part-*.parquet

Each scan writes its own hive partition, so scans into one root never
overwrite each other.  The files also carry a ``scan_id`` column, so they
are self-describing when read without partition discovery; the partition
key is named ``scan``, not ``scan_id``, because BigQuery refuses a hive
partition key that is also a column of the files.
"""
from typing import Dict

import pyarrow as pa

from schemas.hash_tables import HASH_DATASETS

_TIMESTAMP_UTC = pa.timestamp('us', tz='UTC')

_MODEL_AND_SCAN = [
    pa.field('model_name', pa.string(), nullable=False),
    pa.field('model_version', pa.string(), nullable=False),
]
_SCAN = [
    pa.field('scan_id', pa.string(), nullable=False),
    pa.field('scanned_at', _TIMESTAMP_UTC, nullable=False),
]

# Which model flagged a clip or scored a sample: the visual model (frames)
# or the audio model (waveform windows of the soundtrack).
MODALITY_VISUAL = 'visual'
MODALITY_AUDIO = 'audio'
MODALITIES = (MODALITY_VISUAL, MODALITY_AUDIO)
# What a column added since reads as in files written before it (a null
# there means the same): every clip and score before audio was visual.
DEFAULTS_OF_OLD_FILES = {'modality': MODALITY_VISUAL}


def _modality(what: str) -> pa.Field:
  return pa.field('modality', pa.string(), nullable=False,
                  metadata={'description': f'"visual" or "audio": the model '
                            f'that {what} (files written before audio '
                            f'scanning read as "visual")'})


FLAGGED_CLIPS = pa.schema(
    [
        pa.field('clip_id', pa.string(), nullable=False),
        pa.field('video_id', pa.string(), nullable=False),
        pa.field('video_uri', pa.string(), nullable=False),
        pa.field('label', pa.string(), nullable=False),
        pa.field('start_ms', pa.int64(), nullable=False),
        pa.field('end_ms', pa.int64(), nullable=False),
        pa.field('peak_ms', pa.int64(), nullable=False),
        pa.field('peak_score', pa.float32(), nullable=False),
        pa.field('mean_score', pa.float32(), nullable=False),
        pa.field('frames', pa.int32(), nullable=False),
        *_MODEL_AND_SCAN,
        pa.field('threshold', pa.float32(), nullable=False),
        *_SCAN,
        pa.field('thumbnail', pa.binary(),
                 metadata={'description': 'JPEG of the peak frame as the '
                           'model saw it'}),
        pa.field('source_scan_id', pa.string(),
                 metadata={'description': 'null for a scan\'s own clips; '
                           'for a `rescan rethreshold` partition, the scan '
                           'whose frame_scores its clips were re-assembled '
                           'from (at the threshold of column threshold)'}),
        _modality('flagged the clip; for "audio", frames counts the '
                  'windows, model_name, model_version and threshold are '
                  'the audio model\'s'),
    ],
    metadata={'description': 'One row per flagged clip: a run of sampled '
              'frames (or, for modality "audio", of soundtrack windows) '
              'scoring at or above the threshold for one label.'})

FRAME_SCORES = pa.schema(
    [
        pa.field('scan_id', pa.string(), nullable=False),
        pa.field('video_id', pa.string(), nullable=False),
        pa.field('video_uri', pa.string(), nullable=False),
        pa.field('label', pa.string(), nullable=False),
        pa.field('ts_ms', pa.int32(), nullable=False),
        pa.field('score', pa.float32(), nullable=False,
                 metadata={'description': 'the model\'s score, exactly as '
                           'clip assembly compared it (the model outputs '
                           'float32)'}),
        pa.field('threshold', pa.float64(), nullable=False),
        pa.field('sample_interval_ms', pa.float64(), nullable=False),
        pa.field('merge_gap_ms', pa.float64(), nullable=False),
        pa.field('min_clip_ms', pa.float64(), nullable=False),
        _modality('gave the score; for "audio", ts_ms is the start of '
                  'the window scored'),
    ],
    metadata={'description': 'One row per scored sample and label (with '
              '--frame-scores, the default): the score of the frame sampled '
              'at ts_ms, rows of a video by label then time.  threshold, '
              'sample_interval_ms, merge_gap_ms and min_clip_ms are the '
              'scan\'s clip rules (the same on every row of a scan; they '
              'compress to nothing): with them the clips can be '
              're-assembled at another threshold without decoding '
              '(`rescan rethreshold`).'})

VIDEOS = pa.schema(
    [
        pa.field('video_id', pa.string(), nullable=False),
        pa.field('video_uri', pa.string(), nullable=False),
        pa.field('size_bytes', pa.int64()),
        pa.field('status', pa.string(), nullable=False),
        pa.field('error_kind', pa.string()),
        pa.field('error_message', pa.string()),
        pa.field('duration_ms', pa.int64()),
        pa.field('width', pa.int32()),
        pa.field('height', pa.int32()),
        pa.field('codec', pa.string()),
        pa.field('source_updated_at', _TIMESTAMP_UTC,
                 metadata={'description': 'last update of the stored object '
                           'scanned; with size_bytes it identifies the '
                           'version --skip-scanned compares'}),
        pa.field('source_inode', pa.int64(),
                 metadata={'description': 'local files: the inode read'}),
        pa.field('source_changed_at', _TIMESTAMP_UTC,
                 metadata={'description': 'local files: the inode change '
                           'time (ctime), which cannot be set back'}),
        pa.field('source_generation', pa.int64(),
                 metadata={'description': 'GCS: the object generation read'}),
        pa.field('source_crc32c', pa.string(),
                 metadata={'description': 'GCS: the object CRC32C (base64)'}),
        pa.field('content_sha256', pa.string(),
                 metadata={'description': 'with --digests or --verify-digest: '
                           'SHA-256 of the content, hex (computed in the same '
                           'read as content_md5)'}),
        pa.field('shared_video_id', pa.string(),
                 metadata={'description': 'the video_id its input gave when '
                           'another file of this scan had it too; video_id is '
                           'then made unique as <given>~<file token>'}),
        pa.field('frames_scored', pa.int64(), nullable=False),
        pa.field('samples_expected', pa.int64(),
                 metadata={'description': 'samples the timeline should give: '
                           'the sampling grid over the probed duration, '
                           'segment by segment; null when not probed'}),
        pa.field('coverage', pa.float64(),
                 metadata={'description': 'frames_scored / samples_expected; '
                           'below --min-coverage the video is "partial"; '
                           'null when no sample was expected'}),
        pa.field('segments', pa.int32(), nullable=False),
        pa.field('segments_failed', pa.int32(), nullable=False),
        pa.field('packets_damaged', pa.int64(), nullable=False),
        pa.field('bytes_read', pa.int64(), nullable=False),
        pa.field('max_score', pa.float32()),
        pa.field('clips', pa.int32(), nullable=False),
        *_MODEL_AND_SCAN,
        *_SCAN,
        pa.field('content_md5', pa.string(),
                 metadata={'description': 'MD5 of the content, hex: on GCS '
                           'from the object metadata without reading (null '
                           'for composite objects), elsewhere with --digests '
                           'or --verify-digest; matched exactly against the '
                           'md5 entries of hash banks'}),
        pa.field('audio_status', pa.string(),
                 metadata={'description': 'with --audio-model: "ok", '
                           '"no_audio" (the file has no audio stream), '
                           '"unsupported_audio" (it has one that cannot be '
                           'decoded), "partial" (fewer windows scored than '
                           'the soundtrack promised) or "failed"; null when '
                           'the scan had no audio model'}),
        pa.field('audio_windows_scored', pa.int64(),
                 metadata={'description': 'audio windows scored'}),
        pa.field('audio_windows_expected', pa.int64(),
                 metadata={'description': 'windows the audio grid over the '
                           'probed duration should give'}),
        pa.field('audio_coverage', pa.float64(),
                 metadata={'description': 'audio_windows_scored / '
                           'audio_windows_expected; null when none expected'}),
        pa.field('audio_max_score', pa.float32()),
        pa.field('audio_model_name', pa.string()),
        pa.field('audio_model_version', pa.string()),
    ],
    metadata={'description': 'The per-scan ledger: exactly one row per '
              'input video, status "scanned", "partial", "failed" or '
              '"skipped".'})

DATASETS: Dict[str, pa.Schema] = {
    'flagged_clips': FLAGGED_CLIPS,
    'videos': VIDEOS,
    'frame_scores': FRAME_SCORES,
    **HASH_DATASETS,
}

PARTITION_KEY = 'scan'
STATUS_SCANNED = 'scanned'
STATUS_SKIPPED = 'skipped'
STATUS_FAILED = 'failed'
# Scored, but fewer samples than the timeline promised (--min-coverage):
# part of the video was never looked at, so it is not "scanned".
STATUS_PARTIAL = 'partial'


def partition_dir(root: str, dataset: str, scan_id: str) -> str:
  """The folder one scan writes one dataset to."""
  if dataset not in DATASETS:
    raise KeyError(f'unknown dataset {dataset!r}')
  return f"{root.rstrip('/')}/{dataset}/{PARTITION_KEY}={scan_id}"


def dataset_glob(root: str, dataset: str) -> str:
  """A glob over every scan's files of one dataset, for DuckDB and others."""
  if dataset not in DATASETS:
    raise KeyError(f'unknown dataset {dataset!r}')
  return f"{root.rstrip('/')}/{dataset}/*/*.parquet"
