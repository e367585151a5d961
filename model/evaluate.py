"""Evaluating a model: measure it, choose its threshold, record both.

``evaluate(EvaluateConfig)`` does the work; ``rescan evaluate``
(``pipeline.cli.evaluate``) turns its flags into the ``EvaluateConfig``.

The model is loaded exactly as the scan loads it
(``pipeline.inference.contract.resolve_model`` and ``load_signature``) and fed
the scan's samples (``training_data``, at the model's fps, size and
window).  It prints, per label, PR AUC (average precision, see ``metrics``)
and precision, recall and F1 at the model's threshold; chooses the lowest
threshold whose precision reaches the target for every label (or, when that
is unreachable, the one with the best mean F1); and evaluates clips as a
reviewer sees them (``clip_metrics``) at the threshold the model has after
the run.  An audio model (``"modality": "audio"``) is loaded by
``resolve_audio_model`` and fed the scan's audio windows
(``audio_data``): frame-level figures are per window (ambiguous windows
left out), clips are assembled from the windows' scores at their start
times on the hop grid.  Unless ``write_threshold`` is off (``--no-write-threshold``),
the chosen threshold and the metrics go into the model's
``rescan_model.json``.  ``out_dir`` (default ``MODEL_DIR/evaluation``) gets
``evaluation.json`` and ``pr_curve.png``.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable, Dict, List, Optional, Sequence

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# pylint: disable=wrong-import-position
import numpy as np
from apache_beam.io.filesystems import FileSystems

from model import annotations
from model import audio_data
from model import clip_metrics
from model import export
from model import metrics
from model import pr_plot
from model import report_tables
from model import training_data
from model.annotations import DataError
from model.clip_metrics import VideoScores
from model.training_data import SampledVideos
from pipeline.inference import contract as model_contract
from pipeline.inference.contract import AudioModelSpec
from pipeline.inference.contract import LoadedModel
from pipeline.media import sampling
from pipeline.scan.clips import ClipRules
from pipeline.scan.clips import DEFAULT_MERGE_GAP_MS
from pipeline.scan.settings import audio_clip_rules
from pipeline.scan.settings import audio_grid

Log = Callable[[str], None]
EVALUATION_FILE = 'evaluation.json'
PR_CURVE_FILE = 'pr_curve.png'


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
  model: str
  data: str
  annotations: Optional[str] = None
  target_precision: float = 0.9
  out_dir: Optional[str] = None
  write_threshold: bool = True
  batch_size: int = 64


def score_samples(model: LoadedModel, sampled: SampledVideos,
                  batch_size: int) -> np.ndarray:
  """Scores of every sample through the loaded signature, ``[N, C]``."""
  chunks = [model(sampled.inputs(np.arange(start, min(start + batch_size,
                                                      len(sampled)))))
            for start in range(0, len(sampled), batch_size)]
  return np.concatenate(chunks)


def video_scores(sampled: SampledVideos, scores: np.ndarray,
                 data: annotations.LabelledVideos) -> List[VideoScores]:
  """Splits sample scores back into videos, for clip assembly."""
  result = []
  for number, (video, duration_ms) in enumerate(
      zip(sampled.videos, sampled.durations_ms)):
    rows = sampled.video_index == number
    result.append(VideoScores(video, duration_ms, sampled.ts_ms[rows],
                              scores[rows], data.annotations_of(video)))
  return result


def _operating_point(stats: Dict) -> Optional[pr_plot.Point]:
  """``(recall, precision)`` of a threshold, if both are defined."""
  if stats['precision'] is None or stats['recall'] is None:
    return None
  return stats['recall'], stats['precision']


def _write_bytes(path: str, content: bytes, mime_type: str) -> None:
  with FileSystems.create(path, mime_type=mime_type) as f:
    f.write(content)


def write_report(out_dir: str, record: Dict, targets: np.ndarray,
                 scores: np.ndarray, labels: Sequence[str],
                 threshold_key: str, title: str) -> List[str]:
  """``evaluation.json`` and ``pr_curve.png`` (any Beam filesystem).

  Returns the paths written; without matplotlib there is no PNG.
  """
  if not FileSystems.exists(out_dir):
    FileSystems.mkdirs(out_dir)
  written = [FileSystems.join(out_dir, EVALUATION_FILE)]
  _write_bytes(written[0],
               (json.dumps(record, indent=2) + '\n').encode('utf-8'),
               'application/json')
  curves = {label: metrics.pr_curve(targets[:, c], scores[:, c])
            for c, label in enumerate(labels)}
  points = {row['label']: _operating_point(row[threshold_key])
            for row in record['labels']}
  pr_auc = {row['label']: row['pr_auc'] for row in record['labels']}
  try:
    png = pr_plot.pr_curve_png(curves, points, pr_auc, title)
  except ImportError:
    return written
  written.append(FileSystems.join(out_dir, PR_CURVE_FILE))
  _write_bytes(written[-1], png, 'image/png')
  return written


def record_in_model(model_dir: str, record: Dict) -> None:
  """Writes the chosen threshold and the metrics to rescan_model.json."""
  document = export.read_metadata(model_dir)
  document['threshold'] = record['threshold_selection']['threshold']
  document['threshold_selection'] = record['threshold_selection']
  document.setdefault('metrics', {})['evaluation'] = {
      key: record[key] for key in ('evaluated_at', 'data', 'labels',
                                   'clip_level', 'pr_auc_method')}
  export.write_metadata(model_dir, document)


@dataclasses.dataclass(frozen=True)
class Scored:
  """What a model gave on the evaluation data, whatever its modality.

  ``rows`` are the examples measured at frame (window) level; clip level
  uses every example of ``videos``, under ``rules``."""
  data: annotations.LabelledVideos
  targets: np.ndarray
  scores: np.ndarray
  rows: np.ndarray
  videos: List[VideoScores]
  rules: Callable[[float], ClipRules]   # the scan's clip rules at a threshold
  unit: str                  # 'samples' or 'windows'
  data_record: Dict


def _visual(config: EvaluateConfig, log: Log):
  spec = model_contract.resolve_model(config.model)
  loaded = model_contract.load_signature(spec)
  data = annotations.load_labelled_videos(config.data, config.annotations,
                                          spec.labels)
  log(f'model {spec.name} {spec.version}: labels {", ".join(spec.labels)}, '
      f'{spec.input_width}x{spec.input_height}, {spec.fps:g} fps, window '
      f'{spec.window}, threshold {spec.threshold:g}')
  sampled = training_data.sample_videos(data, spec.fps, spec.input_size,
                                        spec.window)
  if not len(sampled):
    raise DataError(f'the videos in {config.data} gave no samples')
  scores = score_samples(loaded, sampled, config.batch_size)
  return spec, Scored(
      data, sampled.targets, scores, np.arange(len(sampled)),
      video_scores(sampled, scores, data),
      lambda threshold: ClipRules(
          threshold, sampling.sample_interval_ms(spec.fps),
          DEFAULT_MERGE_GAP_MS), 'samples',
      {'samples': int(len(sampled)), 'fps': spec.fps})


def _audio(config: EvaluateConfig, log: Log):
  spec = model_contract.resolve_audio_model(config.model)
  loaded = model_contract.load_signature(spec)
  data = annotations.load_labelled_videos(config.data, config.annotations,
                                          spec.labels,
                                          modality=annotations.AUDIO)
  log(f'model {spec.name} {spec.version} (audio): labels '
      f'{", ".join(spec.labels)}, {spec.sample_rate} Hz, windows of '
      f'{spec.window_seconds:g} s every {spec.hop_seconds:g} s, threshold '
      f'{spec.threshold:g}')
  windows = audio_data.window_videos(data, audio_grid(spec))
  if not len(windows):
    raise DataError(f'the videos in {config.data} gave no audio windows')
  scores = np.concatenate([
      loaded(windows.waveforms[start:start + config.batch_size])
      for start in range(0, len(windows), config.batch_size)])
  rows = windows.clear_rows(np.arange(len(windows)))
  videos = [VideoScores(video, duration_ms,
                        windows.ts_ms[windows.video_index == number],
                        scores[windows.video_index == number],
                        data.annotations_of(video))
            for number, (video, duration_ms) in enumerate(
                zip(windows.videos, windows.durations_ms))]
  return spec, Scored(
      data, windows.targets, scores, rows, videos,
      lambda threshold: audio_clip_rules(spec, threshold), 'windows',
      {'windows': int(len(windows)), 'windows_measured': int(len(rows)),
       'ambiguous_windows_left_out': int(len(windows) - len(rows)),
       'sample_rate': spec.sample_rate,
       'window_seconds': spec.window_seconds,
       'hop_seconds': spec.hop_seconds})


def evaluate(config: EvaluateConfig, log: Log = print) -> Dict:
  """Runs the evaluation; returns the record written to evaluation.json.

  The model's ``rescan_model.json`` says its modality: a visual model is
  fed the scan's samples, an audio model the scan's audio windows
  (``audio_data``)."""
  document = model_contract.read_metadata(config.model)
  audio = (model_contract.modality_of(config.model, document)
           == model_contract.AUDIO)
  spec, scored = (_audio if audio else _visual)(config, log)
  data = scored.data
  targets, scores = scored.targets[scored.rows], scored.scores[scored.rows]
  log(f'data {config.data}: {len(data.videos)} videos, {len(scored.rows)} '
      f'{scored.unit}, {len(data.annotations)} labelled intervals')

  choice = metrics.choose_threshold(targets, scores, config.target_precision)
  labels = metrics.label_report(
      targets, scores, spec.labels,
      {'at_model_threshold': spec.threshold,
       'at_chosen_threshold': choice.threshold})
  log(f'\nat the model\'s threshold {spec.threshold:g}:\n' +
      report_tables.format_label_report(labels, 'at_model_threshold'))
  reached = '' if choice.target_reached else ' (TARGET NOT REACHED)'
  log(f'\nchosen threshold {choice.threshold:.4f}{reached}: {choice.rule}\n' +
      report_tables.format_label_report(labels, 'at_chosen_threshold'))

  scan_threshold = (choice.threshold if config.write_threshold else
                    spec.threshold)
  clips = clip_metrics.clip_level_stats_by_rules(
      scored.videos, spec.labels, scored.rules(scan_threshold))
  log(f'\nclip level at threshold {scan_threshold:.4f} (scan clip rules, '
      f'merge gap {DEFAULT_MERGE_GAP_MS / 1000:g} s):\n' +
      report_tables.format_clip_stats(clips))

  record = {
      'evaluated_at': export.utc_now_iso(),
      'code_version': export.code_version(),
      'model': {'name': spec.name, 'version': spec.version,
                'modality': (model_contract.AUDIO if audio else
                             model_contract.VISUAL),
                'threshold_before': spec.threshold},
      'data': {'path': config.data,
               'fingerprint_sha256': data.fingerprint,
               'videos': len(data.videos), **scored.data_record},
      'pr_auc_method': 'average precision (step-wise, no interpolation)',
      'threshold_selection': {**dataclasses.asdict(choice),
                              'written': config.write_threshold},
      'labels': labels,
      'clip_level': {'threshold': scan_threshold,
                     'merge_gap_ms': DEFAULT_MERGE_GAP_MS,
                     'labels': [s.as_dict() for s in clips]},
  }
  threshold_key = ('at_chosen_threshold' if config.write_threshold else
                   'at_model_threshold')
  out_dir = config.out_dir or FileSystems.join(config.model.rstrip('/'),
                                               'evaluation')
  written = write_report(
      out_dir, record, targets, scores, spec.labels, threshold_key,
      f'{spec.name} {spec.version} on {len(data.videos)} videos '
      f'(dot: threshold {scan_threshold:.3f})')
  log('\nwrote ' + ', '.join(written))
  if len(written) == 1:
    log('no PR curve: matplotlib is not installed '
        '(pip install matplotlib==3.10.*)')
  if config.write_threshold:
    record_in_model(config.model, record)
    log(f'wrote threshold {choice.threshold} and metrics to '
        f'{config.model}/{model_contract.METADATA_FILE}')
  return record
