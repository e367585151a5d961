"""The model toolkit: data checks, training, evaluation, export, scanning.

The slow tests train a tiny CNN on generated first-person videos and check
it on held-out generated videos, through the same loading, decoding and
clip assembly the scan uses.
"""
from __future__ import annotations

import glob
import json
import os
import textwrap

import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from model import annotations
from model import architecture
from model import clip_metrics
from model import demo_dataset
from model import evaluate
from model import export
from model import metrics
from model import train
from model import training_data
from model import video_split
from model.annotations import Annotation
from model.annotations import DataError
from model.synthetic_video import write_video
from pipeline.cli import evaluate as evaluate_cli
from pipeline.cli import main as cli
from pipeline.cli import train as train_cli
from pipeline.inference import contract as model_contract
from pipeline.media import probe
from pipeline.media import sampling
from pipeline.scan.clips import ClipRules
from pipeline.inference.contract import ModelSpec
from pipeline.scan.options import parse_scan_args
from pipeline.records import Segment

# One xdist worker runs the whole file, so the data and the model are made
# once (`make test` runs pytest -n 2 --dist loadgroup).
pytestmark = pytest.mark.xdist_group('model_toolkit')

INPUT = 48          # model input, pixels per side
FPS = 5.0           # training and scanning samples per second
VIDEO_SIZE = (96, 72)


def _demo_set(folder: str, count: int, seed: int) -> str:
  """Small generated first-person videos without the hard cases."""
  demo_dataset.write_dataset(folder, count=count, seed=seed,
                             seconds=(2.5, 3.5), fps=10.0, size=VIDEO_SIZE,
                             hard_cases=False)
  return folder


def _write_annotations(folder, text: str) -> str:
  path = os.path.join(folder, 'annotations.csv')
  with open(path, 'w', encoding='utf-8') as f:
    f.write(textwrap.dedent(text).lstrip())
  return path


def _train_config(data: str, out: str, **overrides) -> train.TrainConfig:
  settings = dict(data=data, out=out, backbone='tiny_cnn', input_width=INPUT,
                  input_height=INPUT, fps=FPS, seed=3, epochs=1,
                  batch_size=32)
  settings.update(overrides)
  return train.TrainConfig(**settings)


@pytest.fixture(scope='module')
def train_set(tmp_path_factory) -> str:
  return _demo_set(str(tmp_path_factory.mktemp('train_set')), 100, seed=11)


@pytest.fixture(scope='module')
def heldout_set(tmp_path_factory) -> str:
  return _demo_set(str(tmp_path_factory.mktemp('heldout_set')), 30, seed=12)


@pytest.fixture(scope='module')
def trained_model(train_set, tmp_path_factory) -> str:
  """A tiny CNN trained through the ``rescan train`` command."""
  out = str(tmp_path_factory.mktemp('models') / 'tiny')
  code = cli.main(['train', '--data', train_set, '--out', out,
                   '--backbone', 'tiny_cnn', '--input-size', str(INPUT),
                   '--fps', str(FPS), '--epochs', '100', '--max-steps', '1800',
                   '--seed', '3', '--name', 'tiny-test', '--version', 't1'])
  assert code == 0
  return out


@pytest.fixture(scope='module')
def one_video(tmp_path_factory) -> str:
  folder = tmp_path_factory.mktemp('one_video')
  write_video(str(folder / 'a.mp4'), 2.0, 'h264', fps=10.0, size=(64, 48))
  return str(folder)


# --- data format and checks -------------------------------------------------

@pytest.mark.parametrize('csv_text,message', [
    ('video,label,start_s\na.mp4,weapon,1\n', 'missing column.*end_s'),
    ('video,label,start_s,end_s\nb.mp4,weapon,0,1\n',
     "line 2: video 'b.mp4' is not in the data folder"),
    ('video,label,start_s,end_s\na.mp4,weapon,1.5,1.5\n',
     'line 2: end_s 1.5 must be greater than start_s 1.5'),
    ('video,label,start_s,end_s\na.mp4,weapon,-1,1\n',
     'line 2: start_s -1 is negative'),
    ('video,label,start_s,end_s\na.mp4,weapon,soon,1\n',
     "'soon' is not a number"),
    ('video,label,start_s,end_s\na.mp4,knife,0,1\n',
     "line 2: label 'knife' is not one of --labels weapon"),
    ('video,label,start_s,end_s\na.mp4,,0,1\n', '"label" is empty'),
    ('video,label,start_s,end_s\na.mp4,weapon,0,1,2\n',
     'line 2: more fields than columns'),
    ('video,label,start_s,end_s\na.mp4,weapon,0,1\na.mp4,knife,2,-1\n',
     r"2 problem\(s\):\n  line 3: label 'knife'.*\n  line 3: end_s -1 is "
     'negative'),
])
def test_bad_annotations_are_named_with_their_line(one_video, csv_text,
                                                   message):
  path = _write_annotations(one_video, csv_text)
  with pytest.raises(DataError, match=message):
    annotations.load_labelled_videos(one_video, path, labels=('weapon',))


def test_missing_annotations_file_and_folder(tmp_path, one_video):
  with pytest.raises(DataError, match='no annotations file'):
    annotations.load_labelled_videos(one_video,
                                     str(tmp_path / 'nothing.csv'))
  with pytest.raises(DataError, match='no data folder'):
    annotations.load_labelled_videos(str(tmp_path / 'absent'))


def test_an_undecodable_video_is_named(tmp_path):
  (tmp_path / 'junk.mp4').write_bytes(b'not a video' * 100)
  _write_annotations(str(tmp_path), 'video,label,start_s,end_s\n'
                     'junk.mp4,weapon,0,1\n')
  data = annotations.load_labelled_videos(str(tmp_path))
  with pytest.raises(DataError, match=r'junk.mp4 cannot be decoded '
                     r'\(invalid_container\)'):
    training_data.sample_videos(data, FPS, (INPUT, INPUT))


def test_train_command_reports_data_errors(one_video, tmp_path, capsys):
  _write_annotations(one_video, 'video,label,start_s,end_s\nz.mp4,x,0,1\n')
  code = train_cli.main(['--data', one_video, '--out', str(tmp_path / 'm')])
  assert code == 2
  assert "video 'z.mp4' is not in the data folder" in capsys.readouterr().err


TRAIN_ARGS = ['--data', 'd', '--out', 'o']
EVALUATE_ARGS = ['--model', 'm', '--data', 'd']


@pytest.mark.parametrize('parse,argv,message', [
    (train_cli.parse_args, TRAIN_ARGS + ['--val-fraction', '1'],
     'must be in [0, 1), got 1'),
    (train_cli.parse_args, TRAIN_ARGS + ['--epochs', '0'],
     'must be in [1, 10000], got 0'),
    (train_cli.parse_args, TRAIN_ARGS + ['--input-size', '96x12'],
     'each in [16, 1024]'),
    (train_cli.parse_args, TRAIN_ARGS + ['--labels', 'a,a'],
     '--labels has duplicates'),
    (evaluate_cli.parse_args, EVALUATE_ARGS + ['--target-precision', '0'],
     'must be in (0, 1], got 0'),
])
def test_toolkit_flags_out_of_range_are_usage_errors(parse, argv, message,
                                                     capsys):
  with pytest.raises(SystemExit) as stopped:
    parse(argv)
  assert stopped.value.code == 2
  assert message in capsys.readouterr().err


def test_labels_default_to_the_sorted_csv_labels(one_video):
  _write_annotations(one_video, '''
      video,label,start_s,end_s
      a.mp4,weapon,0.5,1.0
      a.mp4,muzzle_flash,0.6,0.7
      ''')
  data = annotations.load_labelled_videos(one_video)
  assert data.labels == ('muzzle_flash', 'weapon')
  assert data.videos == ('a.mp4',)
  assert len(data.fingerprint) == 64


def test_targets_are_positive_inside_start_inclusive_end_exclusive():
  marks = [Annotation('v', 'weapon', 0.5, 1.5),
           Annotation('v', 'flash', 1.0, 1.2),
           Annotation('v', 'weapon', 3.0, 3.5)]
  targets = training_data.sample_targets([0, 499, 500, 1000, 1499, 1500, 3000],
                                         marks, ('flash', 'weapon'))
  np.testing.assert_array_equal(targets, [[0, 0], [0, 0], [0, 1], [1, 1],
                                          [0, 1], [0, 0], [0, 1]])


def test_split_is_by_video_deterministic_and_keeps_positives_on_both_sides():
  videos = [f'v{i:02d}.mp4' for i in range(20)]
  annotated = videos[:8]
  split = video_split.split_by_video(videos, annotated, 0.25, seed=5)
  assert not set(split.train) & set(split.validation)
  assert sorted(split.train + split.validation) == videos
  assert len(split.validation) == 5
  assert set(split.validation) & set(annotated)
  assert set(split.validation) - set(annotated)
  assert split == video_split.split_by_video(videos, annotated, 0.25, seed=5)
  assert split != video_split.split_by_video(videos, annotated, 0.25, seed=6)


@pytest.mark.slow
def test_training_samples_of_a_split_come_from_its_videos_only(train_set):
  data = annotations.load_labelled_videos(train_set)
  split = video_split.split_by_video(data.videos, data.positive_videos(),
                                     0.25, seed=1)
  sampled = training_data.sample_videos(data, FPS, (INPUT, INPUT))
  train_rows = sampled.rows_of(split.train)
  validation_rows = sampled.rows_of(split.validation)
  assert len(train_rows) + len(validation_rows) == len(sampled)
  train_videos = {sampled.videos[i] for i in sampled.video_index[train_rows]}
  validation_videos = {sampled.videos[i] for i in
                       sampled.video_index[validation_rows]}
  assert train_videos == set(split.train)
  assert validation_videos == set(split.validation)


# --- the same pixels in training and in a scan ------------------------------

@pytest.mark.parametrize('codec,window', [('h264', 1), ('hevc', 3),
                                          ('vp9', 1)])
def test_training_frames_are_the_scans_frames(tmp_path, codec, window):
  """A segment decoded mid-video by the scan's DoFn gives byte-identical
  model inputs to the training reader, windows included."""
  from pipeline.scan import transforms  # pylint: disable=import-outside-toplevel
  from pipeline.scan.settings import resolve_settings  # pylint: disable=import-outside-toplevel
  folder = tmp_path / 'data'
  folder.mkdir()
  write_video(str(folder / f'clip.{codec}'), 9.0, codec, fps=10.0,
              size=(160, 120), seed=4)
  path = str(folder / f'clip.{codec}')
  _write_annotations(str(folder), f'video,label,start_s,end_s\n'
                     f'clip.{codec},x,1,2\n')
  data = annotations.load_labelled_videos(str(folder))
  sampled = training_data.sample_videos(data, 2.0, (40, 32), window)
  spec = ModelSpec(path='unused', name='m', version='1', labels=('x',),
                   input_height=32, input_width=40, fps=2.0, threshold=0.5,
                   window=window)
  config = parse_scan_args(['--input', path, '--output', str(tmp_path),
                            '--model', 'unused', '--segment-seconds', '4'])
  settings = resolve_settings(config, spec)
  duration_ms = probe.probe_video(path).duration_ms
  segment = Segment('vid', path, 1, 4100, 7300, duration_ms)
  scanned = [out for out in transforms.DecodeSegmentFn(settings).process(
      segment) if isinstance(out, tuple)]
  assert [key.ts_ms for key, _ in scanned] == [4500, 5000, 5500, 6000, 6500,
                                                7000]
  training = dict(zip(sampled.ts_ms.tolist(), sampled.inputs()))
  for key, model_input in scanned:
    assert model_input.dtype == np.uint8
    np.testing.assert_array_equal(model_input, training[key.ts_ms])


def test_windows_repeat_the_first_sample_like_the_scan():
  samples = [training_data.Sample(i, i * 500, None) for i in range(4)]
  rows = training_data.window_rows(samples, first_row=10, window=3)
  np.testing.assert_array_equal(rows, [[10, 10, 10], [10, 10, 11],
                                       [10, 11, 12], [11, 12, 13]])


# --- metrics -----------------------------------------------------------------

def test_average_precision_by_hand():
  targets = np.array([1, 0, 1, 0, 0, 1])
  scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
  # Positives at ranks 1, 3, 6: AP = (1/1 + 2/3 + 3/6) / 3.
  assert metrics.average_precision(targets, scores) == pytest.approx(
      (1 + 2 / 3 + 0.5) / 3)
  assert metrics.average_precision(targets, targets) == pytest.approx(1.0)
  assert metrics.average_precision(np.zeros(3), scores[:3]) is None
  # Tied scores are one threshold: all four flagged at once.
  assert metrics.average_precision(np.array([1, 0, 1, 0]),
                                   np.full(4, 0.5)) == pytest.approx(0.5)


def test_threshold_is_the_lowest_reaching_the_target_precision():
  targets = np.array([[1], [1], [0], [1], [0], [0]])
  scores = np.array([[0.9], [0.8], [0.7], [0.6], [0.5], [0.4]])
  choice = metrics.choose_threshold(targets, scores, 0.75)
  assert choice.target_reached and choice.threshold == pytest.approx(0.6)
  stats = metrics.stats_at(targets, scores, choice.threshold)
  assert (stats.precision, stats.recall) == (0.75, 1.0)
  unreachable = metrics.choose_threshold(np.array([[0], [1]]),
                                         np.array([[0.9], [0.1]]), 0.9)
  assert not unreachable.target_reached
  assert 'unreachable' in unreachable.rule
  assert unreachable.threshold == pytest.approx(0.1)   # best F1


def test_clip_level_recall_and_false_clips_per_hour():
  ts = np.arange(0, 20_000, 500)
  scores = np.zeros((len(ts), 1))
  scores[(ts >= 2000) & (ts < 4000)] = 0.9      # finds the first interval
  scores[(ts >= 15_000) & (ts < 16_000)] = 0.8  # a false clip
  video = clip_metrics.VideoScores(
      'v', 20_000, ts, scores,
      (Annotation('v', 'x', 2.5, 5.0), Annotation('v', 'x', 9.0, 10.0)))
  stats, = clip_metrics.clip_level_stats([video], ('x',), 0.5, fps=2.0)
  assert (stats.intervals, stats.intervals_found) == (2, 1)
  assert (stats.clips, stats.false_clips) == (2, 1)
  negative_hours = (20_000 - 2_500 - 1_000) / 3_600_000
  assert stats.false_clips_per_hour == pytest.approx(1 / negative_hours)


# --- export ------------------------------------------------------------------

def test_the_readme_example_model_obeys_the_contract(tmp_path, monkeypatch):
  readme = os.path.join(os.path.dirname(__file__), '..', 'model', 'README.md')
  with open(readme, encoding='utf-8') as f:
    text = f.read()
  example = text.split('<!-- contract-example')[1].split('```python\n')[1]
  monkeypatch.chdir(tmp_path)
  code = compile(example.split('```')[0], 'model/README.md', 'exec')
  exec(code, {})  # pylint: disable=exec-used
  spec = model_contract.resolve_model(str(tmp_path / 'models' / 'brightness'))
  scores = model_contract.load_signature(spec)(
      np.full((2, 64, 64, 3), 255, np.uint8))
  np.testing.assert_allclose(scores, np.ones((2, 1)))


@pytest.mark.parametrize('window', [1, 3])
def test_export_reloads_with_the_keras_models_outputs(tmp_path, window):
  classifier = architecture.build_classifier('tiny_cnn', 32, 40, 2, window)
  metadata = export.contract_metadata('t', '1', ('a', 'b'), 32, 40, 2.0, 0.5,
                                      window)
  out = export.export_model(classifier, str(tmp_path / 'm'), metadata)
  shape = (5, window, 32, 40, 3) if window > 1 else (5, 32, 40, 3)
  frames = np.random.default_rng(0).integers(0, 256, shape, np.uint8)
  loaded = tf.saved_model.load(out)
  scores = loaded.signatures['serving_default'](
      frames=tf.constant(frames))['scores'].numpy()
  np.testing.assert_allclose(scores, classifier(frames).numpy(), rtol=1e-5,
                             atol=1e-6)
  spec = model_contract.resolve_model(out)
  assert spec.window == window and spec.labels == ('a', 'b')
  assert model_contract.expected_input_shape(spec) == (None,) + shape[1:]


def test_export_refuses_to_replace_a_folder_that_is_not_a_model(tmp_path):
  (tmp_path / 'keep').mkdir()
  (tmp_path / 'keep' / 'notes.txt').write_text('mine')
  classifier = architecture.build_classifier('tiny_cnn', 32, 32, 1)
  with pytest.raises(FileExistsError):
    export.export_model(classifier, str(tmp_path / 'keep'),
                        export.contract_metadata('t', '1', ('a',), 32, 32,
                                                 1.0, 0.5, 1))
  assert (tmp_path / 'keep' / 'notes.txt').read_text() == 'mine'


# --- training, evaluation and a scan (slow) ---------------------------------

@pytest.mark.slow
def test_training_is_deterministic_for_a_seed(train_set, tmp_path):
  data = annotations.load_labelled_videos(train_set)
  sampled = training_data.sample_videos(data, FPS, (INPUT, INPUT))
  rows = np.arange(len(sampled))
  config = _train_config(train_set, str(tmp_path / 'unused'), max_steps=4)
  runs = [train.fit(config, sampled, rows, rows[:0], data.labels,
                    log=lambda _: None) for _ in range(2)]
  for a, b in zip(runs[0].get_weights(), runs[1].get_weights()):
    np.testing.assert_array_equal(a, b)
  train.make_deterministic(config.seed)
  initial = architecture.build_classifier('tiny_cnn', INPUT, INPUT,
                                          len(data.labels))
  assert any(not np.array_equal(a, b) for a, b in
             zip(runs[0].get_weights(), initial.get_weights()))


@pytest.mark.slow
def test_a_temporal_model_trains_and_obeys_the_contract(train_set, tmp_path):
  result = train.train(_train_config(train_set, str(tmp_path / 'w2'),
                                     window=2, max_steps=3),
                       log=lambda _: None)
  spec = model_contract.resolve_model(result.model_dir)
  assert spec.window == 2
  assert model_contract.expected_input_shape(spec) == (None, 2, INPUT, INPUT,
                                                       3)


@pytest.mark.slow
def test_trained_model_records_how_it_was_made(trained_model, train_set):
  document = json.load(open(os.path.join(trained_model,
                                         'rescan_model.json'),
                            encoding='utf-8'))
  data = annotations.load_labelled_videos(train_set)
  assert document['training']['data_fingerprint_sha256'] == data.fingerprint
  assert tuple(document['labels']) == demo_dataset.LABELS
  assert document['fps'] == FPS and document['window'] == 1
  assert (document['input_height'], document['input_width']) == (INPUT, INPUT)
  assert document['created_at'].endswith('+00:00')
  assert document['code_version']
  videos = document['training']['videos']
  assert videos['validation'] and not set(videos['train']) & set(
      videos['validation'])
  assert document['metrics']['validation']['labels'][1]['label'] == 'weapon'


@pytest.mark.slow
def test_trained_model_beats_chance_on_heldout_videos(trained_model,
                                                      heldout_set, tmp_path):
  out_dir = str(tmp_path / 'evaluation')
  code = cli.main(['evaluate', '--model', trained_model, '--data',
                   heldout_set, '--target-precision', '0.9', '--out-dir',
                   out_dir])
  assert code == 0
  record = json.load(open(os.path.join(out_dir, 'evaluation.json'),
                          encoding='utf-8'))
  weapon = next(r for r in record['labels'] if r['label'] == 'weapon')
  prevalence = weapon['positives'] / weapon['samples']
  assert 0.15 < prevalence < 0.5
  assert weapon['pr_auc'] > 0.8, record['labels']
  assert os.path.getsize(os.path.join(out_dir, 'pr_curve.png')) > 1000
  clips = {s['label']: s for s in record['clip_level']['labels']}
  assert clips['weapon']['interval_recall'] > 0.5
  document = export.read_metadata(trained_model)
  assert document['threshold'] == record['threshold_selection']['threshold']
  assert document['metrics']['evaluation']['labels'] == record['labels']


@pytest.mark.slow
def test_evaluate_can_leave_the_model_untouched(trained_model, heldout_set,
                                                tmp_path):
  before = export.read_metadata(trained_model)
  assert evaluate_cli.main(['--model', trained_model, '--data', heldout_set,
                            '--out-dir', str(tmp_path), '--no-write-threshold']
                           ) == 0
  assert export.read_metadata(trained_model) == before


@pytest.mark.slow
def test_trained_model_scans_through_the_pipeline(trained_model, heldout_set,
                                                  tmp_path):
  """The exported model runs in a scan, and the scan's clips are exactly
  those the toolkit's evaluation assembles from the same model."""
  from pipeline.scan.job import run  # pylint: disable=import-outside-toplevel
  out = str(tmp_path / 'results')
  pattern = os.path.join(heldout_set, 'videos', '*')
  run(['--input', pattern, '--output', out, '--model', trained_model,
       '--runner', 'DirectRunner', '--scan-id', 'x', '--threshold', '0.5'])
  # The partition folder is named after the scan id (scan_id=x or scan=x).
  ledger = pq.read_table(glob.glob(
      os.path.join(out, 'videos', '*=x', '*.parquet'))).to_pylist()
  assert sorted(row['video_uri'] for row in ledger) == sorted(
      glob.glob(pattern))
  assert all(row['status'] == 'scanned' for row in ledger), ledger
  assert all(row['model_name'] == 'tiny-test' for row in ledger)
  assert all(row['frames_scored'] == len(sampling.sample_index_range(
      0, row['duration_ms'], FPS)) for row in ledger)
  clip_files = glob.glob(os.path.join(out, 'flagged_clips', '*=x',
                                      '*.parquet'))
  scanned = {(c['video_uri'], c['label'], c['start_ms'], c['end_ms'])
             for c in pq.read_table(clip_files).to_pylist()}

  spec = model_contract.resolve_model(trained_model)
  data = annotations.load_labelled_videos(heldout_set, labels=spec.labels)
  sampled = training_data.sample_videos(data, spec.fps, spec.input_size)
  scores = evaluate.score_samples(model_contract.load_signature(spec),
                                  sampled, batch_size=64)
  rules = ClipRules(0.5, sampling.sample_interval_ms(spec.fps))
  expected = {(data.uri(video.video), clip.label, clip.start_ms, clip.end_ms)
              for video in evaluate.video_scores(sampled, scores, data)
              for clip in clip_metrics.video_clips(video, spec.labels, rules)}
  assert any(label == 'weapon' for _, label, _, _ in expected)
  assert scanned == expected
