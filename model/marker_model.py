"""A stand-in classifier that detects planted colour markers.

It is NOT a harmful-content detector.  It is a fixed-weight TensorFlow graph
that scores the share of a frame covered by a saturated marker colour (see
``synthetic_video.MARKER_COLOURS``).  It obeys the model contract exactly,
so it serves the demo and the tests as "a model someone else wrote": the
pipeline only ever sees the SavedModel and ``rescan_model.json``.
"""
from __future__ import annotations

import json
import os
from typing import Sequence

import tensorflow as tf

from model.synthetic_video import MARKER_COLOURS

METADATA_FILE = 'rescan_model.json'
# Share of the frame a marker must cover for a score of 1.0.
FULL_SCORE_COVERAGE = 0.15
_COLOUR_TOLERANCE = 70.0


class MarkerDetector(tf.Module):
  """Scores per label: marker coverage / FULL_SCORE_COVERAGE, clipped."""

  def __init__(self, labels: Sequence[str], height: int, width: int):
    super().__init__(name='marker_detector')
    self._colours = tf.constant([MARKER_COLOURS[l] for l in labels],
                                tf.float32)
    self.serve = tf.function(
        self._serve,
        input_signature=[tf.TensorSpec([None, height, width, 3], tf.uint8,
                                       name='frames')])

  def _serve(self, frames):
    pixels = tf.cast(frames, tf.float32)[:, :, :, tf.newaxis, :]
    distance = tf.reduce_max(tf.abs(pixels - self._colours), axis=-1)
    coverage = tf.reduce_mean(
        tf.cast(distance < _COLOUR_TOLERANCE, tf.float32), axis=[1, 2])
    return {'scores': tf.clip_by_value(coverage / FULL_SCORE_COVERAGE, 0., 1.)}


def export_marker_model(out_dir: str,
                        labels: Sequence[str] = ('red_marker',),
                        height: int = 64,
                        width: int = 64,
                        fps: float = 2.0,
                        threshold: float = 0.5,
                        name: str = 'marker-standin',
                        version: str = '1') -> str:
  """Writes the stand-in SavedModel and its ``rescan_model.json``."""
  module = MarkerDetector(labels, height, width)
  tf.saved_model.save(module, out_dir,
                      signatures={'serving_default': module.serve})
  metadata = {
      'name': name,
      'version': version,
      'labels': list(labels),
      'input_height': height,
      'input_width': width,
      'fps': fps,
      'threshold': threshold,
      'description': 'Stand-in: detects planted colour markers. Not a '
                     'harmful-content classifier.',
  }
  with open(os.path.join(out_dir, METADATA_FILE), 'w', encoding='utf-8') as f:
    json.dump(metadata, f, indent=2)
  return out_dir
