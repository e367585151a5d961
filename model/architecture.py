"""The classifier: uint8 frames in, one sigmoid score per label out.

Preprocessing is part of the model (uint8 -> float in ``[-1, 1]``), so the
exported graph takes exactly what the scan feeds.  Backbones:

* ``mobilenet_v3_small``: ``keras.applications.MobileNetV3Small``,
  minimalistic, randomly initialised (nothing is downloaded);
* ``tiny_cnn``: four small conv blocks, for quick runs and CI.

With ``window`` T > 1 the model takes ``[N, T, H, W, 3]``: the backbone runs
on every frame (``TimeDistributed``), a causal 1-D convolution mixes
neighbouring frames and max pooling over time gives one feature vector.
"""
from __future__ import annotations

from pipeline.runtime.tensorflow_import import import_tensorflow

import_tensorflow()  # before Keras, which imports it with its chatter
import keras  # pylint: disable=wrong-import-order,wrong-import-position

BACKBONES = ('mobilenet_v3_small', 'tiny_cnn')
INPUT_NAME = 'frames'
_TINY_CNN_FILTERS = (16, 32, 48, 64)
# Keras' MobileNetV3 uses 0.999, tuned for long ImageNet runs; from scratch
# in a few thousand steps the moving statistics would lag far behind.
BATCH_NORM_MOMENTUM = 0.99


def _tiny_cnn(height: int, width: int) -> keras.Model:
  """Conv-BN-ReLU blocks with stride 2, then global average pooling."""
  inputs = keras.Input((height, width, 3))
  x = inputs
  for filters in _TINY_CNN_FILTERS:
    x = keras.layers.Conv2D(filters, 3, strides=2, padding='same',
                            use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
  x = keras.layers.GlobalAveragePooling2D()(x)
  return keras.Model(inputs, x, name='tiny_cnn')


def _mobilenet_v3_small(height: int, width: int) -> keras.Model:
  return keras.applications.MobileNetV3Small(
      input_shape=(height, width, 3), include_top=False, weights=None,
      minimalistic=True, include_preprocessing=False, pooling='avg')


def build_backbone(backbone: str, height: int, width: int) -> keras.Model:
  """A model from float frames in ``[-1, 1]`` to a feature vector."""
  if backbone == 'tiny_cnn':
    model = _tiny_cnn(height, width)
  elif backbone == 'mobilenet_v3_small':
    model = _mobilenet_v3_small(height, width)
  else:
    raise ValueError(f'unknown backbone {backbone!r}; choose from '
                     f'{", ".join(BACKBONES)}')
  for layer in model.layers:
    if isinstance(layer, keras.layers.BatchNormalization):
      layer.momentum = BATCH_NORM_MOMENTUM
  return model


def build_classifier(backbone: str, height: int, width: int, num_labels: int,
                     window: int = 1, dropout: float = 0.2,
                     temporal_filters: int = 64) -> keras.Model:
  """The whole classifier, uint8 input named ``frames`` to scores ``[N, C]``.

  Args:
    backbone: one of ``BACKBONES``.
    height, width: input size in pixels.
    num_labels: C, one sigmoid output per label.
    window: T frames per input; 1 for a per-frame model.
    dropout: before the last layer, in training only.
    temporal_filters: width of the temporal convolution (window > 1).
  """
  if num_labels < 1:
    raise ValueError(f'need at least one label, got {num_labels}')
  if window < 1:
    raise ValueError(f'window must be >= 1, got {window}')
  frame_shape = (height, width, 3)
  shape = frame_shape if window == 1 else (window,) + frame_shape
  inputs = keras.Input(shape, dtype='uint8', name=INPUT_NAME)
  x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0,
                             name='to_unit_range')(inputs)
  features = build_backbone(backbone, height, width)
  if window == 1:
    x = features(x)
  else:
    x = keras.layers.TimeDistributed(features, name='per_frame')(x)
    x = keras.layers.Conv1D(temporal_filters, min(3, window),
                            padding='causal', activation='relu',
                            name='temporal_conv')(x)
    x = keras.layers.GlobalMaxPooling1D(name='temporal_pool')(x)
  x = keras.layers.Dropout(dropout)(x)
  outputs = keras.layers.Dense(num_labels, activation='sigmoid',
                               name='scores')(x)
  return keras.Model(inputs, outputs, name=f'{backbone}_w{window}')
