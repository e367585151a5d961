"""RunInference over SavedModels loaded with ``tf.saved_model.load``.

Beam's ``TFModelHandlerTensor`` calls ``tf.keras.models.load_model``, which
cannot load plain SavedModels under Keras 3 (apache/beam#30616).  This
handler loads any SavedModel that obeys the model contract; everything else
is Beam's own: its batching arguments, ``PredictionResult`` (the model input
as ``example``, float32 ``[C]`` scores as ``inference``), and the large-model
sharing of ``model_copies``.  The scan wraps it in Beam's
``KeyedModelHandler`` to carry each sample's key.  The same handler serves
a visual model (``frames``, uint8) and an audio model (``waveform``,
float32; ``ScoreAudio``): the spec says which.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Iterable, Optional, Sequence, Union

import numpy as np
from apache_beam.ml.inference.base import ModelHandler
from apache_beam.ml.inference.base import PredictionResult

from pipeline.inference import contract as model_contract
from pipeline.inference.contract import LoadedModel
from pipeline.inference.contract import AudioModelSpec
from pipeline.inference.contract import ModelSpec
from pipeline.runtime.tensorflow_import import import_tensorflow

# RunInference's metrics (batch sizes, latencies) are reported under this.
METRICS_NAMESPACE = 'rescan_inference'


class GpuUnavailableError(RuntimeError):
  """A GPU was requested for inference but TensorFlow sees none."""


def check_gpu_visible() -> None:
  """Fails fast, with a message an operator can act on, when no GPU."""
  tf = import_tensorflow()
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
  tf = import_tensorflow()
  try:
    tf.config.threading.set_intra_op_parallelism_threads(intra_op_threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
  except RuntimeError as exc:
    logging.warning('TensorFlow threads not changed: %s', exc)


class SavedModelHandler(ModelHandler[np.ndarray, PredictionResult,
                                      LoadedModel]):
  """Batches uint8 frames (or windows of frames), or float32 audio
  windows, into the ``serving_default`` call."""

  def __init__(self, spec: Union[ModelSpec, AudioModelSpec], max_batch_size: int = 64,
               require_gpu: bool = False, intra_op_threads: int = 0,
               model_copies: Optional[int] = None):
    """Batches are ``max_batch_size`` frames (only a bundle's last may be
    smaller): Beam's ``BatchElements`` would otherwise start small and grow
    them, which costs throughput on short bundles.

    ``model_copies`` unset loads one model in every SDK process, Beam's
    default; set, the worker's processes share that many loaded models
    (``share_model_across_processes``), so that a GPU holds one model
    rather than one per process.
    """
    super().__init__(min_batch_size=max_batch_size,
                     max_batch_size=max_batch_size,
                     model_copies=model_copies)
    self._spec = spec
    self._max_batch_size = max_batch_size
    self._require_gpu = require_gpu
    self._intra_op_threads = intra_op_threads

  def load_model(self) -> LoadedModel:
    if self._intra_op_threads:
      limit_tensorflow_threads(self._intra_op_threads)
    if self._require_gpu:
      check_gpu_visible()
    model = model_contract.load_signature(self._spec)
    # The first call sets TensorFlow's kernels and buffers up: done here,
    # once per loaded model, not in the first batch's latency.
    shape, dtype = model_contract.example_shape(self._spec)
    model(np.zeros((self._max_batch_size,) + shape, dtype))
    return model

  def run_inference(self, batch: Sequence[np.ndarray], model: LoadedModel,
                    inference_args: Optional[Dict[str, Any]] = None
                    ) -> Iterable[PredictionResult]:
    """Scores a batch; each result keeps its input, so that the frames of
    flagged samples can become thumbnails without a second decode."""
    return [PredictionResult(frames, scores)
            for scores, frames in zip(model(np.stack(batch)), batch)]

  def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
    return sum(frame.nbytes for frame in batch)

  def get_metrics_namespace(self) -> str:
    return METRICS_NAMESPACE
