"""What ``frame_scores/`` costs: bytes per video-hour on real scanned media,
and the layouts it was chosen against.

    python -m benchmarks.frame_scores [--workdir DIR] [--long-minutes 10]

The demo archive (``model.demo_archive``: first-person scenes with a
pistol planted, H.264/VP9/HEVC/MPEG-4, 162 s) plus one long first-person
video (``--long-minutes``) are scanned once with the shipped demo model
(5 samples/s, 2 labels) on the DirectRunner, with frame scores on (the
default).  From the written partitions:

* ``bytes_per_video_hour``: each dataset's bytes over the hours of video
  scored (the ledger's ``duration_ms`` of scanned rows); ``frame_scores``
  is the new cost, the others are there for scale;
* ``layouts``: the same ``frame_scores`` rows re-written with pyarrow
  (zstd) in other layouts, bytes per video-hour: as written (sorted by
  video, label, time; int32 time, float32 score, Parquet's dictionary
  encoding on every column); time-major order (rows as samples arrive);
  int64 time and float64 score; the score quantised to uint16 (1/65535
  steps: smaller, but re-thresholding would no longer equal a fresh scan,
  whose clip assembly compares the model's float32 score); without
  dictionary encoding; dictionary encoding on the string columns only,
  alone and with BYTE_STREAM_SPLIT on the score (options ``WriteDataset``,
  over Beam's ``WriteToParquet``, cannot pass today); and a list layout
  (one row per video and label, times and scores as lists).

Not a test: prints one JSON document and returns it.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from typing import Dict, Optional, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import schemas
from model import demo_archive
from model import demo_dataset
from model import first_person_scene
from pipeline.scan import job
from pipeline.storage.parquet import parquet_paths
from pipeline.storage.parquet import read_partition

SCAN_ID = 'bench'
HOUR_MS = 3_600_000


def _long_video(path: str, minutes: float) -> str:
  """A long first-person video with the pistol up now and then."""
  if os.path.exists(path):
    return path
  seconds = minutes * 60.0
  weapon = tuple((start, start + 6.0)
                 for start in range(30, int(seconds) - 10, 97))
  flashes = tuple((start + 2.0, start + 2.3) for start, _ in weapon)
  scene = first_person_scene.make_scene(11, *demo_archive.SIZE, 'street',
                                        'phone', dim=False)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  return demo_dataset.write_scene_video(
      path, scene, first_person_scene.Timeline(weapon, flashes), seconds,
      demo_archive.FPS, 'h264')


def _bytes(table: pa.Table, **options) -> int:
  sink = io.BytesIO()
  pq.write_table(table, sink, compression='zstd', **options)
  return len(sink.getvalue())


def layouts(scores: pa.Table) -> Dict[str, int]:
  """The bytes of ``scores`` written in each compared layout."""
  by_time = scores.sort_by([('video_id', 'ascending'),
                            ('ts_ms', 'ascending'), ('label', 'ascending')])
  wide = scores.set_column(
      scores.schema.get_field_index('ts_ms'), 'ts_ms',
      pc.cast(scores.column('ts_ms'), pa.int64())).set_column(
          scores.schema.get_field_index('score'), 'score',
          pc.cast(scores.column('score'), pa.float64()))
  quantised = scores.set_column(
      scores.schema.get_field_index('score'), 'score',
      pc.cast(pc.round(pc.multiply(pc.cast(scores.column('score'),
                                           pa.float64()), 65535.0)),
              pa.uint16()))
  strings = ['scan_id', 'video_id', 'video_uri', 'label']
  keys = ['scan_id', 'video_id', 'video_uri', 'label', 'threshold',
          'sample_interval_ms', 'merge_gap_ms', 'min_clip_ms']
  lists = scores.group_by(keys, use_threads=False).aggregate(
      [('ts_ms', 'list'), ('score', 'list')])
  return {
      'as_written': _bytes(scores),
      'time_major_order': _bytes(by_time),
      'int64_time_float64_score': _bytes(wide),
      'uint16_quantised_score': _bytes(quantised),
      'no_dictionary': _bytes(scores, use_dictionary=False),
      'dictionary_on_strings_only': _bytes(scores, use_dictionary=strings),
      'strings_dictionary_score_byte_stream_split': _bytes(
          scores, use_dictionary=strings,
          use_byte_stream_split=['score']),
      'lists_per_video_and_label': _bytes(lists),
  }


def measure(workdir: str, long_minutes: float) -> Dict[str, object]:
  demo = demo_archive.build_demo(os.path.join(workdir, 'demo'))
  long_path = _long_video(os.path.join(workdir, 'long', 'long_street.mp4'),
                          long_minutes)
  output = tempfile.mkdtemp(prefix='frame-scores-', dir=workdir)
  job.run(['--input', demo.pattern, '--input', long_path,
           '--output', output, '--model', demo.model_dir,
           '--segment-seconds', str(demo_archive.SEGMENT_SECONDS),
           '--scan-id', SCAN_ID])
  ledger = read_partition(output, 'videos', SCAN_ID)
  scored = ledger.filter(pc.is_in(ledger.column('status'), pa.array(
      [schemas.STATUS_SCANNED, schemas.STATUS_PARTIAL])))
  hours = pc.sum(scored.column('duration_ms')).as_py() / HOUR_MS
  sizes = {}
  for dataset in ('frame_scores', 'flagged_clips', 'videos',
                  'frame_hashes'):
    folder = schemas.partition_dir(output, dataset, SCAN_ID)
    sizes[dataset] = sum(os.path.getsize(path) for path in
                         parquet_paths(folder + '/*.parquet'))
  scores = read_partition(output, 'frame_scores', SCAN_ID)
  return {
      'videos_scored': scored.num_rows,
      'video_hours': round(hours, 4),
      'frame_scores_rows': scores.num_rows,
      'rows_per_video_hour': round(scores.num_rows / hours),
      'bytes': sizes,
      'bytes_per_video_hour': {k: round(v / hours) for k, v in sizes.items()},
      'layouts_bytes_per_video_hour': {
          k: round(v / hours) for k, v in layouts(scores).items()},
  }


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.frame_scores')
  parser.add_argument('--workdir', default=os.path.join(
      tempfile.gettempdir(), 'rescan_frame_scores'),
                      help='where the videos are kept (and reused) and the '
                      'scan is written')
  parser.add_argument('--long-minutes', type=float, default=10.0,
                      help='length of the long video, in minutes')
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  os.makedirs(args.workdir, exist_ok=True)
  result = measure(args.workdir, args.long_minutes)
  print(json.dumps(result, indent=2))
  return result


if __name__ == '__main__':
  main()
