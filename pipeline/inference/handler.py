"""RunInference over SavedModels loaded with ``tf.saved_model.load``.

Beam's ``TFModelHandlerTensor`` calls ``tf.keras.models.load_model``, which
cannot load plain SavedModels under Keras 3 (apache/beam#30616).  This
handler loads any SavedModel that obeys the model contract.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Iterable, NamedTuple, Optional, Sequence

import numpy as np
from apache_beam.ml.inference.base import KeyedModelHandler
from apache_beam.ml.inference.base import ModelHandler

from pipeline import fault_injection
from pipeline.inference import contract as model_contract
from pipeline.inference.contract import LoadedModel
from pipeline.inference.contract import ModelSpec


class KeyedSavedModelHandler(KeyedModelHandler):
  """``KeyedModelHandler`` over ``SampleKey``s, with the reliability tests'
  fault hook (inert in production) in front of each batch."""

  def run_inference(self, batch, model, inference_args=None):
    fault_injection.before_inference([key.video_id for key, _ in batch])
    return super().run_inference(batch, model, inference_args)


class ScoredInput(NamedTuple):
  """One inference result: float32 ``[C]`` scores and the model input."""
  scores: np.ndarray
  frames: np.ndarray


class GpuUnavailableError(RuntimeError):
  """A GPU was requested for inference but TensorFlow sees none."""


def check_gpu_visible() -> None:
  """Fails fast, with a message an operator can act on, when no GPU."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  if not tf.config.list_physical_devices('GPU'):
    raise GpuUnavailableError(
        'a GPU was requested for inference but TensorFlow sees none: check '
        'that the worker has an accelerator with "install-nvidia-driver", '
        'that the image installs tensorflow[and-cuda], and that the CUDA '
        'libraries match (see README.md, "Dataflow"); or pass '
        '--require-gpu=false to run inference on CPU')


def limit_tensorflow_threads(intra_op_threads: int) -> None:
  """Caps TensorFlow's intra-op threads (and runs ops one at a time), so
  that the model does not fight the decoders and other worker processes
  over the cores.  TensorFlow takes this only before its runtime starts: a
  process that already ran TensorFlow keeps its threads (logged)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  try:
    tf.config.threading.set_intra_op_parallelism_threads(intra_op_threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
  except RuntimeError as exc:
    logging.warning('TensorFlow threads not changed: %s', exc)


class SavedModelHandler(ModelHandler[np.ndarray, ScoredInput, LoadedModel]):
  """Batches uint8 frames (or windows) into the ``serving_default`` call."""

  def __init__(self, spec: ModelSpec, max_batch_size: int = 64,
               min_batch_size: Optional[int] = None,
               require_gpu: bool = False, intra_op_threads: int = 0):
    """Batches are ``max_batch_size`` frames (only a bundle's last may be
    smaller) unless ``min_batch_size`` lets Beam's ``BatchElements`` start
    small and grow them, which costs throughput on short bundles."""
    super().__init__()
    self._spec = spec
    self._max_batch_size = max_batch_size
    self._min_batch_size = min(min_batch_size or max_batch_size,
                               max_batch_size)
    self._require_gpu = require_gpu
    self._intra_op_threads = intra_op_threads

  def load_model(self) -> LoadedModel:
    if self._intra_op_threads:
      limit_tensorflow_threads(self._intra_op_threads)
    if self._require_gpu:
      check_gpu_visible()
    model = model_contract.load_signature(self._spec)
    # The first call sets TensorFlow's kernels and buffers up: done here,
    # once per worker, not in the first batch's latency.
    model(np.zeros((self._max_batch_size,) +
                   model_contract.expected_input_shape(self._spec)[1:],
                   np.uint8))
    return model

  def run_inference(self, batch: Sequence[np.ndarray], model: LoadedModel,
                    inference_args: Optional[Dict[str, Any]] = None
                    ) -> Iterable[ScoredInput]:
    """Scores a batch; each result keeps its input, so that the frames of
    flagged samples can become thumbnails without a second decode."""
    return [ScoredInput(scores, frames)
            for scores, frames in zip(model(np.stack(batch)), batch)]

  def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
    return sum(frame.nbytes for frame in batch)

  def get_metrics_namespace(self) -> str:
    return 'rescan_inference'

  def batch_elements_kwargs(self) -> Dict[str, int]:
    return {'min_batch_size': self._min_batch_size,
            'max_batch_size': self._max_batch_size}
