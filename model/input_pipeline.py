"""tf.data input for training: shuffled, augmented, batched, prefetched.

Rows index into one in-memory frames tensor (see ``SampledVideos``), so a
window of T frames costs T indices, not T copies.  Augmentation (random
crop-and-zoom, horizontal flip, brightness and contrast) uses stateless
random ops seeded by ``(seed, batch number)``: the same seed gives the same
batches.  A window gets one draw for all its frames, so augmentation never
fakes motion.  Augmented frames are rounded back to uint8, as the model
always takes uint8.
"""
from __future__ import annotations

import dataclasses
from typing import Tuple

import numpy as np

from pipeline.runtime.tensorflow_import import import_tensorflow

tf = import_tensorflow()


@dataclasses.dataclass(frozen=True)
class Augmentation:
  max_zoom: float = 0.15            # crops keep 85-100 % of each side
  flip: bool = True
  max_brightness: float = 40.0      # added to 0..255 pixel values
  contrast_range: Tuple[float, float] = (0.7, 1.3)


NO_AUGMENTATION = Augmentation(max_zoom=0.0, flip=False, max_brightness=0.0,
                               contrast_range=(1.0, 1.0))


def _crop_and_zoom(x: tf.Tensor, draws: tf.Tensor,
                   max_zoom: float) -> tf.Tensor:
  """Crops a random box of each window and resizes it back (bilinear).

  Args:
    x: float ``[B, T, H, W, 3]``.
    draws: uniform ``[3, B]``: box size, vertical and horizontal offset.
    max_zoom: the box side is ``1 - max_zoom * draw`` of the frame's.
  """
  shape = tf.shape(x)
  batch, window = shape[0], shape[1]
  side = 1.0 - max_zoom * draws[0]
  top, left = (1.0 - side) * draws[1], (1.0 - side) * draws[2]
  boxes = tf.repeat(tf.stack([top, left, top + side, left + side], axis=1),
                    window, axis=0)
  frames = tf.reshape(x, tf.concat([[batch * window], shape[2:]], axis=0))
  cropped = tf.image.crop_and_resize(frames, boxes,
                                     tf.range(batch * window), shape[2:4])
  return tf.reshape(cropped, shape)


def augment_batch(frames: tf.Tensor, seed: tf.Tensor,
                  augmentation: Augmentation) -> tf.Tensor:
  """Augments uint8 ``[B, T, H, W, 3]``; one draw per example.

  Args:
    frames: uint8 batch of windows.
    seed: int64 ``[2]``, the stateless seed of this batch.
    augmentation: the ranges.
  """
  batch = tf.shape(frames)[0]
  draws = tf.random.stateless_uniform([6, batch], seed=seed)
  x = tf.cast(frames, tf.float32)
  if augmentation.max_zoom:
    x = _crop_and_zoom(x, draws[3:], augmentation.max_zoom)
  if augmentation.flip:
    # 0 or 1 per example; arithmetic, not tf.where, so no bool tensors.
    flip = tf.reshape(tf.round(draws[0]), [-1, 1, 1, 1, 1])
    x = flip * tf.reverse(x, axis=[3]) + (1.0 - flip) * x
  low, high = augmentation.contrast_range
  contrast = tf.reshape(low + (high - low) * draws[1], [-1, 1, 1, 1, 1])
  mean = tf.reduce_mean(x, axis=[2, 3], keepdims=True)
  x = (x - mean) * contrast + mean
  brightness = augmentation.max_brightness * (2.0 * draws[2] - 1.0)
  x = x + tf.reshape(brightness, [-1, 1, 1, 1, 1])
  return tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)


def _model_input(windows: tf.Tensor, single_frame: bool) -> tf.Tensor:
  return windows[:, 0] if single_frame else windows


def training_dataset(frames: np.ndarray, windows: np.ndarray,
                     targets: np.ndarray, batch_size: int, seed: int,
                     augmentation: Augmentation = Augmentation()
                     ) -> tf.data.Dataset:
  """Endless ``(inputs, targets)`` batches, reshuffled every pass.

  Args:
    frames: uint8 ``[M, H, W, 3]``, every sampled frame.
    windows: int64 ``[N, T]`` rows of ``frames`` per example.
    targets: float32 ``[N, C]``.
    batch_size: examples per batch (the last partial batch of a pass is
      dropped, so every step has the same shape).
    seed: shuffling and augmentation seed.
    augmentation: the random ranges.
  """
  if len(windows) == 0:
    raise ValueError('no training examples')
  pixels = tf.constant(frames)
  single_frame = windows.shape[1] == 1

  def prepare(step, batch):
    rows, labels = batch
    window_frames = tf.gather(pixels, rows)
    augmented = augment_batch(window_frames, tf.stack([seed, step]),
                              augmentation)
    return _model_input(augmented, single_frame), labels

  return shuffled_batches(windows, targets, batch_size, seed, prepare)


def shuffled_batches(examples: np.ndarray, targets: np.ndarray,
                     batch_size: int, seed: int, prepare
                     ) -> tf.data.Dataset:
  """Endless batches of ``(examples, targets)`` rows, reshuffled every
  pass (the last partial batch of a pass dropped), each mapped by
  ``prepare(batch number, (examples, targets))`` in order."""
  batch_size = min(batch_size, len(examples))
  return (tf.data.Dataset.from_tensor_slices((examples, targets))
          .shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
          .repeat()
          .batch(batch_size, drop_remainder=True)
          .enumerate()
          .map(prepare, num_parallel_calls=tf.data.AUTOTUNE,
               deterministic=True)
          .prefetch(tf.data.AUTOTUNE))


def inference_dataset(frames: np.ndarray, windows: np.ndarray,
                      targets: np.ndarray, batch_size: int
                      ) -> tf.data.Dataset:
  """``(inputs, targets)`` batches in order, not augmented (validation)."""
  pixels = tf.constant(frames)
  single_frame = windows.shape[1] == 1

  def prepare(rows, labels):
    return _model_input(tf.gather(pixels, rows), single_frame), labels

  return (tf.data.Dataset.from_tensor_slices((windows, targets))
          .batch(batch_size)
          .map(prepare, num_parallel_calls=tf.data.AUTOTUNE,
               deterministic=True)
          .prefetch(tf.data.AUTOTUNE))
