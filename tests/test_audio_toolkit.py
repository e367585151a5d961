"""The audio half of the model toolkit (issue #18): synthetic sound, audio
annotations, training windows cut by the scan's own audio path, training,
evaluation and export under the audio contract, the shipped demo audio
model and the demo's audio check.

Real encoded media (AAC in MP4, Opus in WebM and MKV), written by the
tests with PyAV; a tiny model trained end to end on generated videos.
"""
from __future__ import annotations

import glob
import json
import os
import textwrap

import av
import numpy as np
import pytest

from model import annotations
from model import audio_data
from model import clip_metrics
from model import demo_archive
from model import demo_audio_dataset
from model import evaluate
from model import synthetic_audio
from model import synthetic_video
from model.annotations import DataError
from model.demo_archive import FoundClip
from model.synthetic_audio import SoundEvent
from model.synthetic_video import PlantedEvent
from pipeline.cli import main as cli
from pipeline.inference import contract as model_contract
from pipeline.media import audio as media_audio
from pipeline.media import decode
from pipeline.media import probe
from pipeline.media import segments
from pipeline.scan import settings
from pipeline.storage import files as storage

pytestmark = pytest.mark.xdist_group('audio_toolkit')

GRID = audio_data.grid_of(16000, 0.96, 0.48)
DEMO_AUDIO_MODEL = demo_archive.AUDIO_MODEL_DIR


def _energy(samples, rate, start_s, seconds):
  piece = samples[int(start_s * rate):int((start_s + seconds) * rate)]
  return float(np.sqrt(np.mean(piece.astype(np.float64) ** 2)))


# --- synthetic sound -----------------------------------------------------

def test_soundtracks_are_deterministic_and_their_truth_is_the_gunfire():
  events = (SoundEvent(1.0, 'gunshot'), SoundEvent(3.0, 'burst'),
            SoundEvent(6.5, 'door_slam'), SoundEvent(8.0, 'clap'),
            SoundEvent(9.5, 'crackle'), SoundEvent(12.0, 'speech'),
            SoundEvent(15.0, 'music'))
  one = synthetic_audio.render_soundtrack(19.0, events, 16000, seed=4)
  two = synthetic_audio.render_soundtrack(19.0, events, 16000, seed=4)
  other = synthetic_audio.render_soundtrack(19.0, events, 16000, seed=5)
  assert one.samples.tobytes() == two.samples.tobytes()
  assert one.samples.tobytes() != other.samples.tobytes()
  assert one.samples.dtype == np.float32 and len(one.samples) == 19 * 16000
  assert np.abs(one.samples).max() <= 1.0
  # Only the shot and the burst are gunfire; a shot lasts SHOT_SECONDS.
  assert len(one.gunfire) == 2
  assert one.gunfire[0] == (1.0, 1.0 + synthetic_audio.SHOT_SECONDS)
  start, end = one.gunfire[1]
  assert start == 3.0 and 3.0 + 0.08 + 0.3 <= end <= 3.0 + 5 * 0.4 + 0.3
  rate = one.sample_rate
  quiet = _energy(one.samples, rate, 0.2, 0.5)
  for begin, finish in one.gunfire:
    # Loud inside the truth, far above the background before it.
    assert _energy(one.samples, rate, begin, 0.05) > 20 * quiet
  # The background is where nothing was planted.
  assert quiet < 0.02


def test_bursts_hold_two_to_six_shots_and_shots_vary():
  counts = {len(synthetic_audio.event_sound(SoundEvent(0.0, 'burst'), 16000,
                                            seed, 0)[1])
            for seed in range(40)}
  assert counts <= set(range(2, 7)) and len(counts) >= 4
  peaks = {round(float(np.abs(synthetic_audio.event_sound(
      SoundEvent(0.0, 'gunshot'), 16000, seed, 0)[0]).max()), 2)
           for seed in range(10)}
  assert len(peaks) >= 5     # levels vary


def test_an_unknown_sound_is_refused():
  with pytest.raises(ValueError, match='unknown sound'):
    synthetic_audio.render_soundtrack(2.0, [SoundEvent(0.5, 'cannon')])


# --- annotations ---------------------------------------------------------

VIDEOS = ('a.mp4', 'b.webm')


def test_the_modality_column_picks_the_rows_of_each_model():
  text = textwrap.dedent('''\
      video,label,start_s,end_s,modality
      a.mp4,weapon,1,2,visual
      a.mp4,gunfire,1.2,1.5,audio
      b.webm,weapon,0,1,
      b.webm,,,,audio
      ''')
  audio_rows, listed = annotations.parse_annotations(
      text, VIDEOS, modality=annotations.AUDIO)
  assert [(a.video, a.label) for a in audio_rows] == [('a.mp4', 'gunfire')]
  visual_rows, _ = annotations.parse_annotations(text, VIDEOS)
  assert [(a.video, a.label) for a in visual_rows] == [('a.mp4', 'weapon'),
                                                       ('b.webm', 'weapon')]
  assert set(listed) == set(VIDEOS)
  # --labels restricts the rows of the modality trained only.
  only, _ = annotations.parse_annotations(text, VIDEOS, labels=['gunfire'],
                                          modality=annotations.AUDIO)
  assert len(only) == 1
  # A file without the column is all of the modality trained.
  plain, _ = annotations.parse_annotations(
      'video,label,start_s,end_s\na.mp4,gunfire,1,2\n', VIDEOS,
      modality=annotations.AUDIO)
  assert plain[0].label == 'gunfire'


@pytest.mark.parametrize('row,message', [
    ('a.mp4,gunfire,1,2,sound', "line 2: modality 'sound' is not one of"),
    ('a.mp4,gunfire,-1,2,audio', 'line 2: start_s -1 is negative'),
    ('a.mp4,gunfire,2,1,audio', 'line 2: end_s 1 must be greater'),
    ('a.mp4,gunfire,nan,1,audio', "line 2: start_s 'nan' is not finite"),
    ('a.mp4,gunfire,1,x,audio', "line 2: end_s 'x' is not a number"),
    ('../etc/passwd,gunfire,1,2,audio', 'is not in the data folder'),
    ('a.mp4,gunfire,1,2,audio,extra', 'line 2: more fields than columns'),
    ('a.mp4,,1,2,audio', 'times are given but "label" is empty'),
])
def test_hostile_audio_rows_are_named_with_their_line(row, message):
  with pytest.raises(DataError, match=message):
    annotations.parse_annotations(
        'video,label,start_s,end_s,modality\n' + row + '\n', VIDEOS,
        modality=annotations.AUDIO)


def test_window_labels_follow_the_overlap_rule():
  events = [annotations.Annotation('v', 'gunfire', 1.0, 1.3)]
  starts = np.array([0.0, 240.0, 480.0, 960.0, 1200.0], np.float64)
  targets, ambiguous = audio_data.window_targets(starts, 960.0, events,
                                                 ['gunfire'])
  # [0, 960) misses; [240, 1200) holds 0.2 s >= half of 0.3 s; [480,
  # 1440) and [960, 1920) hold all of it; [1200, 2160) hears 0.1 s only.
  assert targets[:, 0].tolist() == [0, 1, 1, 1, 0]
  assert ambiguous[:, 0].tolist() == [False, False, False, False, True]


# --- windows: the scan's own ---------------------------------------------

@pytest.mark.parametrize('codec,layout', [('h264', 'stereo'),
                                          ('vp9', 'mono')])
def test_training_windows_are_the_scans_windows(tmp_path, codec, layout):
  """Windows cut for training equal, byte for byte, those a scan's
  segment decodes cut (``decode.iter_samples`` with an ``AudioRequest``,
  segments planned by the scan's planner, one starting mid-video)."""
  events = (SoundEvent(1.0, 'gunshot'), SoundEvent(4.0, 'burst'),
            SoundEvent(8.0, 'speech'))
  track = synthetic_audio.render_soundtrack(13.0, events, seed=2)
  path = synthetic_video.encode_frames(
      str(tmp_path / f'v{synthetic_video.CODECS[codec].extension}'),
      (np.full((48, 64, 3), 9 * i % 250, np.uint8) for i in range(26)),
      codec, 2.0, (64, 48), gop_seconds=1.0,
      audio=synthetic_video.AudioTrack(track.samples, track.sample_rate,
                                       layout))
  training, duration_ms = audio_data.video_audio(path, GRID)
  assert training.status == media_audio.OK
  info = probe.probe_video(path, segment_ms=4000)
  planned = segments.plan_segments(info, 4000)
  assert len(planned) >= 3 and planned[1].start_ms > 0
  scanned = []
  for segment in planned:
    request = media_audio.AudioRequest(GRID)
    with storage.open_media(path) as reader:
      list(decode.iter_samples(reader, segment.start_ms, segment.end_ms,
                               2.0, (32, 24), audio=request))
    scanned += request.track.windows
  assert [w.index for w in training.windows] == [w.index for w in scanned]
  assert len(scanned) == len(GRID.indices(0, duration_ms))
  assert all(a.samples.tobytes() == b.samples.tobytes()
             for a, b in zip(training.windows, scanned))
  # The shot is heard where it was planted.
  loud = [w.start_ms for w in scanned if np.abs(w.samples).max() > 0.2]
  assert {480.0, 960.0} <= set(loud) and 0.0 not in loud


# --- training, evaluation, export -----------------------------------------

@pytest.fixture(scope='module')
def audio_sets(tmp_path_factory):
  root = tmp_path_factory.mktemp('audio_sets')
  train = str(root / 'train')
  heldout = str(root / 'heldout')
  demo_audio_dataset.write_dataset(train, count=32, seed=41, seconds=8.0)
  demo_audio_dataset.write_dataset(heldout, count=14, seed=42, seconds=8.0)
  return train, heldout


@pytest.fixture(scope='module')
def trained_audio_model(audio_sets, tmp_path_factory):
  train, _ = audio_sets
  out = str(tmp_path_factory.mktemp('models') / 'gunfire')
  code = cli.main(['train', '--modality', 'audio', '--data', train, '--out',
                   out, '--epochs', '8', '--seed', '5', '--version', 't1'])
  assert code == 0
  return out


@pytest.mark.slow
def test_train_and_evaluate_an_audio_model_end_to_end(trained_audio_model,
                                                      audio_sets, capsys):
  _, heldout = audio_sets
  document = json.load(open(os.path.join(trained_audio_model,
                                         'rescan_model.json')))
  assert document['modality'] == 'audio'
  assert document['labels'] == ['gunfire']
  assert document['sample_rate'] == 16000
  assert document['window_seconds'] == 0.96
  assert document['hop_seconds'] == 0.48
  assert len(document['training']['data_fingerprint_sha256']) == 64
  assert document['training']['videos']['validation']
  assert document['code_version']
  assert 'log-mel' in document['front_end']['kind']
  capsys.readouterr()
  code = cli.main(['evaluate', '--model', trained_audio_model, '--data',
                   heldout, '--target-precision', '0.9'])
  assert code == 0
  printed = capsys.readouterr().out
  assert '(audio)' in printed and 'clip level' in printed
  record = json.load(open(os.path.join(trained_audio_model, 'evaluation',
                                       'evaluation.json')))
  row = record['labels'][0]
  assert row['label'] == 'gunfire' and row['positives'] > 10
  # Chance is the share of positive windows, about 0.06.
  assert row['pr_auc'] > 0.8
  clips = record['clip_level']['labels'][0]
  assert clips['intervals'] >= 5
  assert clips['interval_recall'] >= 0.8
  assert clips['false_clips_per_hour'] is not None
  assert os.path.getsize(os.path.join(trained_audio_model, 'evaluation',
                                      'pr_curve.png')) > 1000
  written = json.load(open(os.path.join(trained_audio_model,
                                        'rescan_model.json')))
  assert written['threshold'] == record['threshold_selection']['threshold']
  assert written['metrics']['evaluation']['clip_level']
  # The export obeys the audio contract as the scan loads it.
  spec = model_contract.resolve_audio_model(trained_audio_model)
  assert spec.window_samples == 15360 and spec.hop_samples == 7680
  with pytest.raises(model_contract.ContractError, match='audio model'):
    model_contract.resolve_model(trained_audio_model)


def test_train_refuses_hostile_audio_annotations_in_one_line(tmp_path,
                                                             capsys):
  folder = tmp_path / 'data'
  folder.mkdir()
  video = demo_audio_dataset.plan_videos(1, 3, 3.0)[0]
  demo_audio_dataset.write_video(str(folder / 'a.mp4'), video)
  (folder / 'annotations.csv').write_text(
      'video,label,start_s,end_s,modality\na.mp4,gunfire,2,1,audio\n')
  code = cli.main(['train', '--modality', 'audio', '--data', str(folder),
                   '--out', str(tmp_path / 'm')])
  err = capsys.readouterr().err
  assert code == 2
  assert err.startswith('rescan train: error:') and 'line 2' in err
  assert 'Traceback' not in err


@pytest.mark.parametrize('flags,message', [
    (['--window-seconds', '0.5', '--hop-seconds', '0.7'], 'hop_seconds'),
    (['--sample-rate', '1000'], '--sample-rate: must be in [4000, 96000]'),
    (['--window-seconds', '0.1234', '--hop-seconds', '0.1'], 'whole number'),
])
def test_audio_training_flags_outside_the_contract_are_usage_errors(
    tmp_path, capsys, flags, message):
  with pytest.raises(SystemExit) as stop:
    cli.main(['train', '--modality', 'audio', '--data', str(tmp_path),
              '--out', str(tmp_path / 'm'), *flags])
  assert stop.value.code == 2
  err = capsys.readouterr().err
  assert message in err and 'Traceback' not in err


# --- the shipped demo audio model ----------------------------------------

def test_the_demo_audio_model_is_small_and_says_it_is_a_demo():
  spec = model_contract.resolve_audio_model(DEMO_AUDIO_MODEL)
  assert spec.labels == ('gunfire',) and spec.sample_rate == 16000
  size = sum(os.path.getsize(os.path.join(folder, name))
             for folder, _, names in os.walk(DEMO_AUDIO_MODEL)
             for name in names)
  assert size < 2 << 20
  document = json.load(open(os.path.join(DEMO_AUDIO_MODEL,
                                         'rescan_model.json')))
  assert document['description'].startswith('DEMO, NOT A REAL DETECTOR')
  assert 'synthetic sound' in document['description']
  assert document['threshold_selection']['rule']


def test_the_demo_audio_model_hears_gunfire_and_not_the_hard_negatives(
    tmp_path):
  """A held-out clip (a seed no data set used): every planted shot and
  burst is flagged at the shipped threshold, no window that hears only
  hard negatives is."""
  events = (SoundEvent(1.0, 'gunshot'), SoundEvent(3.5, 'door_slam'),
            SoundEvent(5.5, 'burst'), SoundEvent(9.0, 'clap'),
            SoundEvent(11.0, 'crackle'), SoundEvent(14.0, 'speech'),
            SoundEvent(17.5, 'music'), SoundEvent(21.5, 'gunshot'))
  track = synthetic_audio.soundtrack_for(23.0, events, seed=987_654)
  path = synthetic_video.encode_frames(
      str(tmp_path / 'heldout.mp4'),
      (np.zeros((48, 64, 3), np.uint8) for _ in range(46)), 'h264', 2.0,
      (64, 48), audio=synthetic_video.AudioTrack(track.samples,
                                                 track.sample_rate))
  spec = model_contract.resolve_audio_model(DEMO_AUDIO_MODEL)
  windows, _ = audio_data.video_audio(path, settings.audio_grid(spec))
  model = model_contract.load_signature(spec)
  scores = model(np.stack([w.samples for w in windows.windows]))[:, 0]
  starts = np.array([w.start_ms for w in windows.windows]) / 1000.0
  ends = starts + spec.window_seconds
  for begin, end in track.gunfire:
    hearing = (starts <= begin) & (ends >= min(end, begin + 0.3))
    assert scores[hearing].max() >= spec.threshold, (begin, end)
  gunfire_free = np.array([all(e <= b - 0.05 or s >= f + 0.3
                               for b, f in track.gunfire)
                           for s, e in zip(starts, ends)])
  assert gunfire_free.sum() >= 20
  assert scores[gunfire_free].max() < spec.threshold


# --- the demo's soundtracks and audio check --------------------------------

def test_the_demo_archive_plants_gunfire_at_flashes_and_off_screen():
  for upload in demo_archive.DEMO_VIDEOS + (demo_archive.MANIFEST_VIDEO,):
    gunfire = upload.gunfire
    for flash_start, _ in upload.timeline.flashes:
      assert any(g.start_s == flash_start for g in gunfire)
    kinds = {e.kind for e in upload.sound_events}
    assert kinds - set(synthetic_audio.GUNFIRE_KINDS), upload.path
  off_screen = [g for u in demo_archive.DEMO_VIDEOS for g in u.gunfire
                if not any(s <= g.start_s < e for s, e in u.timeline.weapon)]
  assert len(off_screen) >= 3
  negatives = {e.kind for u in demo_archive.DEMO_VIDEOS
               for e in u.sound_events}
  assert set(synthetic_audio.HARD_NEGATIVES) <= negatives


@pytest.mark.slow
def test_the_demo_audio_model_finds_the_demo_archives_gunfire(tmp_path):
  """The demo archive's soundtracks, in their containers (AAC, Opus,
  MP3), through the shipped demo audio model and the scan's clip
  assembly: every planted gunfire interval found, no false clip.  What
  ``rescan demo`` prints (its scan hears with the demo audio model)."""
  demo = demo_archive.build_demo(str(tmp_path / 'demo'))
  spec = model_contract.resolve_audio_model(demo.audio_model_dir)
  model = model_contract.load_signature(spec)
  codecs, rows = set(), []
  for path in sorted({uri for uri, _ in demo.planted} |
                     {uri for uri, _ in demo.planted_audio} |
                     set(glob.glob(os.path.join(demo.archive_dir, 'uploads',
                                                '20*', '*', '*')))):
    track, duration_ms = audio_data.video_audio(path, GRID)
    codecs.add(track.codec)
    scores = model(np.stack([w.samples for w in track.windows]))
    video = clip_metrics.VideoScores(
        path, duration_ms, np.array([w.start_ms for w in track.windows]),
        scores, ())
    rows += [{'video_uri': path, 'label': clip.label,
              'start_ms': clip.start_ms, 'end_ms': clip.end_ms,
              'modality': 'audio'}
             for clip in clip_metrics.video_clips(
                 video, spec.labels,
                 settings.audio_clip_rules(spec, spec.threshold))]
  assert codecs == {'aac', 'opus', 'mp3float'}
  check = demo_archive.check_audio_clips(
      demo.planted_audio, demo_archive.found_clips(rows, 'audio'))
  assert len(demo.planted_audio) == 10
  assert check.counts == (10, 0, 0)


def test_the_audio_check_counts_found_missed_and_false_clips():
  a, b = '/x/a.mp4', '/x/b.mp4'
  planted = ((a, PlantedEvent('gunfire', 9.5, 9.8)),
             (a, PlantedEvent('gunfire', 11.5, 11.8)),
             (a, PlantedEvent('gunfire', 20.0, 21.2)),
             (b, PlantedEvent('gunfire', 3.0, 3.3)))
  rows = [
      # One clip over two shots a second apart (the scan merges them).
      {'video_uri': a, 'label': 'gunfire', 'start_ms': 8640,
       'end_ms': 12000, 'modality': 'audio'},
      # Within the tolerance of the burst's start.
      {'video_uri': a, 'label': 'gunfire', 'start_ms': 18720,
       'end_ms': 19680, 'modality': 'audio'},
      # Nothing planted there: false.
      {'video_uri': b, 'label': 'gunfire', 'start_ms': 10080,
       'end_ms': 11040, 'modality': 'audio'},
      # A visual clip is not an audio clip.
      {'video_uri': b, 'label': 'weapon', 'start_ms': 2000, 'end_ms': 6000,
       'modality': 'visual'},
  ]
  clips = demo_archive.found_clips(rows, 'audio')
  assert len(clips) == 3
  check = demo_archive.check_audio_clips(planted, clips)
  assert check.counts == (3, 1, 1)
  assert check.missed == ((b, PlantedEvent('gunfire', 3.0, 3.3)),)
  assert check.false_clips == (FoundClip(b, 'gunfire', 10080, 11040),)
  text = demo_archive.format_audio_check(check, '/x')
  assert text.splitlines()[-1] == ('audio check: found gunfire 3/4; '
                                   '1 false clips')
  # The visual check sees the visual rows only.
  assert demo_archive.found_clips(rows) == (
      FoundClip(b, 'weapon', 2000, 6000),)
