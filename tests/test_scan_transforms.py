"""The Beam graph: built without running, and run with TestPipeline."""
import json
import os

import apache_beam as beam
from apache_beam.portability.api import beam_runner_api_pb2
import pytest
import tensorflow as tf
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to

from pipeline.inference import contract as model_contract
from pipeline.runtime import runners
from pipeline.scan.options import parse_scan_args
from pipeline.scan.graph import ScanVideos
from pipeline.scan.job import build_pipeline
from pipeline.scan.settings import resolve_settings
from tests.conftest import TOLERANCE_S
from tests.conftest import run_scan

STEP_LABELS = ('ListInputs', 'ScanVideos/ExpandInputs', 'ScanVideos/ProbeVideos',
               'ScanVideos/PlanSegments', 'ScanVideos/ReshuffleSegments',
               'ScanVideos/DecodeSegments', 'ScanVideos/ScoreFrames',
               'ScanVideos/GroupByVideo', 'ScanVideos/AssembleVideos',
               'WriteFlaggedClips', 'WriteLedger', 'WriteFrameScores',
               'WriteFrameHashes', 'ScanVideos/NoPreviousScans',
               'SummarizeScan', 'WriteSummary')


def _name_and_status(row):
  return os.path.basename(row.video_uri), row.status, row.error_kind


def _label_and_rounded_times(clip):
  return clip.label, round(clip.start_ms / 1000), round(clip.end_ms / 1000)


def _config(corpus, model_dir, output, *extra):
  return parse_scan_args(['--input', os.path.join(corpus.root, '*.webm'),
                          '--output', output, '--model', model_dir,
                          '--scan-id', 'graph', *extra])


def test_graph_builds_with_stable_step_labels(corpus, marker_model_dir,
                                              tmp_path):
  p = beam.Pipeline(runner=runners.local_runner())
  outputs = build_pipeline(p, _config(corpus, marker_model_dir, str(tmp_path)))
  assert set(outputs) == {'flagged_clips', 'videos', 'frame_scores',
                          'frame_hashes'}
  names = {t.unique_name for t in
           p.to_runner_api().components.transforms.values()}
  for label in STEP_LABELS:
    assert label in names, label


def test_skip_scanned_is_a_keyed_join_not_a_side_input(
    corpus, marker_model_dir, tmp_path):
  p = beam.Pipeline(runner=runners.local_runner())
  build_pipeline(p, _config(corpus, marker_model_dir, str(tmp_path),
                            '--skip-scanned'))
  transforms = p.to_runner_api().components.transforms.values()
  names = {t.unique_name for t in transforms}
  for label in ('ScanVideos/PreviouslyScanned', 'ScanVideos/JoinPreviousScans',
                'ScanVideos/PreviouslyScanned/LatestScanPerUri'):
    assert label in names, label
  assert 'ScanVideos/NoPreviousScans' not in names
  # No step of the scan takes a side input (ProbeVideos used to take the
  # earlier ledgers as one); Beam's file sinks have their own.
  for transform in transforms:
    if (transform.spec.urn == 'beam:transform:pardo:v1'
        and transform.unique_name.startswith('ScanVideos/')):
      payload = beam_runner_api_pb2.ParDoPayload.FromString(
          transform.spec.payload)
      assert not payload.side_inputs, transform.unique_name


def test_earlier_ledgers_are_listed_once_per_scan_not_per_wave(
    corpus, marker_model_dir, tmp_path, monkeypatch):
  """A scan in 3 waves with --skip-scanned lists the earlier ledgers once,
  in the launcher, and every wave joins its inputs against that list."""
  from pipeline.scan import transforms  # pylint: disable=import-outside-toplevel
  inputs = [os.path.join(corpus.root, '*.webm')]
  root = str(tmp_path / 'out')
  run_scan(root, inputs, marker_model_dir, 'first')
  listed = []
  check_ledgers = transforms.check_ledgers

  def counted(output_root):
    listed.append(output_root)
    return check_ledgers(output_root)

  monkeypatch.setattr(transforms, 'check_ledgers', counted)
  again = run_scan(root, inputs, marker_model_dir, 'again', '--skip-scanned',
                   '--waves', '3')
  assert listed == [root]
  assert sorted(r['status'] for r in again.videos.to_pylist()) == [
      'skipped', 'skipped']


def test_scan_videos_with_test_pipeline(corpus, marker_model_dir, tmp_path):
  config = _config(corpus, marker_model_dir, str(tmp_path), '--fps', '2')
  settings = resolve_settings(config, model_contract.resolve_model(
      marker_model_dir))
  with TestPipeline(runner=runners.local_runner()) as p:
    outputs = p | beam.Create(list(config.inputs)) | ScanVideos(settings)
    clips, ledger = outputs['flagged_clips'], outputs['videos']
    assert_that(ledger | 'Status' >> beam.Map(_name_and_status),
                equal_to([('vp9_two_labels.webm', 'scanned', None),
                          ('clean_vp9.webm', 'scanned', None)]),
                label='CheckLedger')
    assert_that(clips | 'Times' >> beam.Map(_label_and_rounded_times),
                equal_to([('green_marker', 2, 5), ('red_marker', 11, 13)]),
                label='CheckClips')


def _export_window_min_model(path, window):
  """A temporal model: the smallest red coverage over its window."""
  @tf.function(input_signature=[tf.TensorSpec([None, window, 64, 64, 3],
                                              tf.uint8, name='frames')])
  def serve(frames):
    x = tf.cast(frames, tf.float32)
    red = tf.cast((x[..., 0] > 170) & (x[..., 1] < 90) & (x[..., 2] < 90),
                  tf.float32)
    coverage = tf.reduce_min(tf.reduce_mean(red, axis=[2, 3]), axis=1)
    return {'scores': tf.clip_by_value(coverage / 0.15, 0., 1.)[:, None]}
  module = tf.Module()
  module.serve = serve
  tf.saved_model.save(module, path, signatures={'serving_default': serve})
  with open(os.path.join(path, 'rescan_model.json'), 'w',
            encoding='utf-8') as f:
    json.dump({'name': 'window-min', 'version': '1', 'labels': ['red_marker'],
               'input_height': 64, 'input_width': 64, 'fps': 2,
               'threshold': 0.5, 'window': window}, f)
  return path


@pytest.mark.parametrize('window', [3])
def test_windows_end_at_their_sample_so_clip_timing_holds(corpus, tmp_path,
                                                          window):
  model = _export_window_min_model(str(tmp_path / 'model'), window)
  path = next(p for p, v in corpus.videos.items()
              if v.name == 'boundary_crossing.mp4')
  event = corpus.videos[path].events[0]
  scan = run_scan(str(tmp_path / 'out'), [path], model, 'win')
  clips = scan.clips.to_pylist()
  assert len(clips) == 1
  lag_s = (window - 1) / 2.0  # the window is all-red only T-1 samples later
  assert abs(clips[0]['start_ms'] / 1000 - (event.start_s + lag_s)) <= TOLERANCE_S
  assert abs(clips[0]['end_ms'] / 1000 - event.end_s) <= TOLERANCE_S
