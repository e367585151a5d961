"""Class weighting: binary cross-entropy with a positive weight per label.

Harmful content is rare, so positives are scarce.  Each label's positive
term is weighted by ``negatives / positives`` in the training samples
(clipped to ``[MIN_WEIGHT, MAX_WEIGHT]``), so every label's positives and
negatives pull about equally on the weights.
"""
from __future__ import annotations

from typing import Sequence

from pipeline.runtime.tensorflow_import import import_tensorflow

import_tensorflow()  # before Keras, which imports it with its chatter
import keras  # pylint: disable=wrong-import-order,wrong-import-position
import numpy as np

MIN_WEIGHT = 1.0
MAX_WEIGHT = 50.0
_EPSILON = 1e-7


def positive_weights(targets: np.ndarray) -> np.ndarray:
  """float32 ``[C]``: negatives / positives per label, clipped.

  A label without positives gets ``MAX_WEIGHT`` (its term is zero anyway).
  """
  positives = targets.sum(axis=0)
  negatives = targets.shape[0] - positives
  ratio = np.divide(negatives, positives, out=np.full_like(positives, np.inf),
                    where=positives > 0)
  return np.clip(ratio, MIN_WEIGHT, MAX_WEIGHT).astype(np.float32)


@keras.saving.register_keras_serializable(package='rescan')
class WeightedBinaryCrossentropy(keras.losses.Loss):
  """``-(w_c y log p + (1 - y) log(1 - p))``, averaged over labels."""

  def __init__(self, weights: Sequence[float],
               name: str = 'weighted_binary_crossentropy', **kwargs):
    super().__init__(name=name, **kwargs)
    self.weights = [float(w) for w in weights]

  def call(self, y_true, y_pred):
    weights = keras.ops.convert_to_tensor(self.weights, dtype=y_pred.dtype)
    y_true = keras.ops.cast(y_true, y_pred.dtype)
    p = keras.ops.clip(y_pred, _EPSILON, 1.0 - _EPSILON)
    terms = -(weights * y_true * keras.ops.log(p) +
              (1.0 - y_true) * keras.ops.log(1.0 - p))
    return keras.ops.mean(terms, axis=-1)

  def get_config(self):
    return {**super().get_config(), 'weights': self.weights}
