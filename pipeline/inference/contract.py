"""The model contract: what any classifier must offer to be scanned with.

A model is a TensorFlow SavedModel directory with

* a signature ``serving_default`` taking ``frames``: uint8
  ``[N, H, W, 3]`` RGB (``[N, T, H, W, 3]`` when ``window`` is T > 1) and
  returning ``scores``: float32 ``[N, C]`` in ``[0, 1]``;
* a file ``rescan_model.json`` with ``name``, ``version``, ``labels`` (C
  strings), ``input_height``, ``input_width``, ``fps``, ``threshold`` and
  optionally ``window``.

``load_model_spec`` reads and checks the metadata, ``check_saved_model``
loads the graph and checks the signature and a probe call; both raise
``ContractError`` with a message naming what is wrong, before any work
starts.  See model/README.md.

An **audio model** (``"modality": "audio"`` in its metadata; a missing
``modality`` means a visual model) takes ``waveform``: float32 ``[N, S]``,
mono, at the metadata's ``sample_rate``, S = ``window_seconds`` x
``sample_rate`` samples, and returns ``scores`` as above; its metadata
carries ``name``, ``version``, ``labels``, ``threshold``, ``sample_rate``,
``window_seconds`` and ``hop_seconds`` (``load_audio_model_spec``,
``check_audio_signature``, ``resolve_audio_model``).

Every number in the metadata has bounds (``MAX_*`` below), so no model can
make the scan's memory or work unbounded: a frame rate of 1e9 or a
20000x20000 input is refused before the model is loaded.  A model whose
signature leaves H and W open (``None``) is fed, and probed, at the
metadata's (bounded) size.  ``check_scan_budget`` bounds what the flags and
the model together hold in memory per segment and per batch.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import threading
from typing import Any, Dict, Optional, Tuple

import numpy as np

from apache_beam.io.filesystems import FileSystems

from pipeline.storage import files as storage
from schemas import tables
from pipeline.runtime.tensorflow_import import import_tensorflow

METADATA_FILE = 'rescan_model.json'
SIGNATURE = 'serving_default'
INPUT_NAME = 'frames'
OUTPUT_NAME = 'scores'
AUDIO_INPUT_NAME = 'waveform'
# ``modality`` in rescan_model.json; absent means VISUAL.
MODALITY_KEY = 'modality'
VISUAL = tables.MODALITY_VISUAL
AUDIO = tables.MODALITY_AUDIO
MODALITIES = tables.MODALITIES

# Bounds of the metadata's values (model/README.md).  The model's sampling
# rate: 120 samples per second is every frame of 120 fps footage.
MAX_FPS = 120
# H and W of one input frame: beyond any image classifier's input size.
MAX_INPUT_SIDE = 1024
# T, frames per input of a temporal model.
MAX_WINDOW = 64
# One model input (T x H x W x 3 bytes): 64 MiB, e.g. 21 frames of
# 1024x1024 or 64 frames of 576x576.
MAX_INPUT_BYTES = 64 << 20
MAX_LABELS = 1000
MAX_LABEL_CHARS = 128
# "name", "version" and text values of other keys.
MAX_TEXT_CHARS = 1024
MAX_METADATA_BYTES = 1 << 20
# What the flags and the model together may hold (check_scan_budget): the
# model inputs of one segment (a decoded segment's outputs are held at
# once when it is decoded in a child process), and one inference batch.
MAX_SEGMENT_INPUT_BYTES = 512 << 20
# The model inputs one segment decoded in one pass on sparse keyframes may
# hold (it spans several --segment-seconds, so MAX_SEGMENT_INPUT_BYTES
# does not bound it): its samples come back from the decode child at once,
# at about 5x their bytes of peak memory (3x in the child, 2x in the worker,
# benchmarks/one_pass_memory.py).  A longer one pass fails its video
# (``too_many_frames``) instead of the worker's memory.
MAX_ONE_PASS_INPUT_BYTES = 1 << 30
MAX_BATCH_INPUT_BYTES = 1 << 30
# An audio model's sampling rate (samples per second of its waveform).
MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 96_000
# Seconds per audio window and between window starts; the hop bounds the
# windows per second of audio (at most 100).
MAX_AUDIO_WINDOW_SECONDS = 30.0
MIN_AUDIO_HOP_SECONDS = 0.01
# Windows one moment of audio is in ("window_seconds" / "hop_seconds"),
# like MAX_WINDOW frames per visual input.
MAX_AUDIO_OVERLAP = 64
# How far "window_seconds" x "sample_rate" (and the hop's) may be from a
# whole number of samples.
_WHOLE_SAMPLES_TOLERANCE = 1e-6
_COMMON = {
    'name': str,
    'version': str,
    'labels': list,
    'threshold': (int, float),
}
_REQUIRED = {
    **_COMMON,
    'input_height': int,
    'input_width': int,
    'fps': (int, float),
}
_AUDIO_REQUIRED = {
    **_COMMON,
    MODALITY_KEY: str,
    'sample_rate': int,
    'window_seconds': (int, float),
    'hop_seconds': (int, float),
}


class ContractError(ValueError):
  """The model at a path does not obey the model contract."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """A model's metadata, checked against the contract."""
  path: str
  name: str
  version: str
  labels: Tuple[str, ...]
  input_height: int
  input_width: int
  fps: float
  threshold: float
  window: int = 1
  extra: Tuple[Tuple[str, Any], ...] = ()

  @property
  def input_size(self) -> Tuple[int, int]:
    """``(width, height)``, the order PyAV's resize takes."""
    return self.input_width, self.input_height


@dataclasses.dataclass(frozen=True)
class AudioModelSpec:
  """An audio model's metadata, checked against the contract."""
  path: str
  name: str
  version: str
  labels: Tuple[str, ...]
  sample_rate: int
  window_seconds: float
  hop_seconds: float
  threshold: float
  extra: Tuple[Tuple[str, Any], ...] = ()

  @property
  def window_samples(self) -> int:
    """S, samples per window (a whole number, checked at load)."""
    return round(self.window_seconds * self.sample_rate)

  @property
  def hop_samples(self) -> int:
    """Samples between the starts of consecutive windows."""
    return round(self.hop_seconds * self.sample_rate)


def _join(directory: str, name: str) -> str:
  return FileSystems.join(directory.rstrip('/'), name)


def _type_problems(metadata: Dict[str, Any], required: Dict[str, Any]):
  problems = []
  for key, kind in required.items():
    if key not in metadata:
      problems.append(f'missing "{key}"')
    elif isinstance(metadata[key], bool) or not isinstance(metadata[key], kind):
      problems.append(f'"{key}" has the wrong type')
  return problems


def _common_problems(metadata: Dict[str, Any], known) -> list:
  """What is wrong with the keys every modality shares (``_COMMON``) and
  with the free keys (any not in ``known``); types already checked."""
  problems = []
  labels = metadata['labels']
  if not labels or not all(isinstance(l, str) and l for l in labels):
    problems.append('"labels" must be a non-empty list of names')
  elif len(set(labels)) != len(labels):
    problems.append('"labels" has duplicates')
  elif len(labels) > MAX_LABELS:
    problems.append(f'"labels" must hold at most {MAX_LABELS} names, '
                    f'it holds {len(labels)}')
  elif any(len(l) > MAX_LABEL_CHARS for l in labels):
    problems.append(f'each of "labels" must be at most {MAX_LABEL_CHARS} '
                    'characters')
  for key in ('name', 'version'):
    if len(metadata[key]) > MAX_TEXT_CHARS:
      problems.append(f'"{key}" must be at most {MAX_TEXT_CHARS} '
                      'characters')
  if not 0.0 <= metadata['threshold'] <= 1.0:
    problems.append('"threshold" must be in [0, 1]')
  for key, value in metadata.items():
    if key in known:
      continue
    if isinstance(value, float) and not math.isfinite(value):
      problems.append(f'"{key}" must be a finite number')
    elif isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
      problems.append(f'"{key}" must be at most {MAX_TEXT_CHARS} '
                      'characters')
  return problems


def _extra(metadata: Dict[str, Any], known) -> Tuple[Tuple[str, Any], ...]:
  return tuple(sorted((k, v) for k, v in metadata.items()
                      if k not in known
                      and isinstance(v, (str, int, float))))


def _refuse(path: str, problems) -> None:
  if problems:
    raise ContractError(f'{METADATA_FILE} in {path} breaks the model '
                        f'contract: {"; ".join(problems)}')


def modality_of(path: str, metadata: Dict[str, Any]) -> str:
  """``VISUAL`` or ``AUDIO``: the metadata's ``modality`` (absent means
  ``VISUAL``); ``ContractError`` for anything else."""
  if not isinstance(metadata, dict):
    raise ContractError(f'{METADATA_FILE} in {path} must hold a JSON object')
  modality = metadata.get(MODALITY_KEY, VISUAL)
  if modality not in MODALITIES:
    _refuse(path, [f'"{MODALITY_KEY}" must be one of '
                   f'{", ".join(repr(m) for m in MODALITIES)}'])
  return modality


def parse_metadata(path: str, metadata: Dict[str, Any]) -> ModelSpec:
  """Checks a visual model's ``rescan_model.json`` against the contract."""
  if modality_of(path, metadata) != VISUAL:
    raise ContractError(f'{path} is an audio model ("{MODALITY_KEY}": '
                        f'"{AUDIO}"), not a visual one')
  known = set(_REQUIRED) | {'window', MODALITY_KEY}
  problems = _type_problems(metadata, _REQUIRED)
  if not problems:
    problems = _common_problems(metadata, known)
    for key in ('input_height', 'input_width'):
      if not 1 <= metadata[key] <= MAX_INPUT_SIDE:
        problems.append(f'"{key}" must be in [1, {MAX_INPUT_SIDE}], it is '
                        f'{metadata[key]}')
    if not 0 < metadata['fps'] <= MAX_FPS:
      problems.append(f'"fps" must be in (0, {MAX_FPS:g}], it is '
                      f'{metadata["fps"]}')
    window = metadata.get('window', 1)
    if (isinstance(window, bool) or not isinstance(window, int)
        or not 1 <= window <= MAX_WINDOW):
      problems.append(f'"window" must be an integer in [1, {MAX_WINDOW}]')
    elif not problems and _input_bytes(
        window, metadata['input_height'],
        metadata['input_width']) > MAX_INPUT_BYTES:
      problems.append(
          f'one input ("window" x "input_height" x "input_width" x 3 bytes) '
          f'must be at most {MAX_INPUT_BYTES >> 20} MiB')
  _refuse(path, problems)
  return ModelSpec(path=path, name=metadata['name'],
                   version=metadata['version'],
                   labels=tuple(metadata['labels']),
                   input_height=metadata['input_height'],
                   input_width=metadata['input_width'],
                   fps=float(metadata['fps']),
                   threshold=float(metadata['threshold']),
                   window=metadata.get('window', 1),
                   extra=_extra(metadata, known))


def _whole_samples(seconds: float, rate: int) -> bool:
  samples = seconds * rate
  return abs(samples - round(samples)) <= _WHOLE_SAMPLES_TOLERANCE


def parse_audio_metadata(path: str,
                         metadata: Dict[str, Any]) -> AudioModelSpec:
  """Checks an audio model's ``rescan_model.json`` against the contract."""
  if modality_of(path, metadata) != AUDIO:
    raise ContractError(f'{path} is a visual model, not an audio one '
                        f'(an audio model\'s {METADATA_FILE} holds '
                        f'"{MODALITY_KEY}": "{AUDIO}")')
  known = set(_AUDIO_REQUIRED)
  problems = _type_problems(metadata, _AUDIO_REQUIRED)
  if not problems:
    problems = _common_problems(metadata, known)
    rate = metadata['sample_rate']
    window = metadata['window_seconds']
    hop = metadata['hop_seconds']
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
      problems.append(f'"sample_rate" must be in [{MIN_SAMPLE_RATE}, '
                      f'{MAX_SAMPLE_RATE}], it is {rate}')
    if not MIN_AUDIO_HOP_SECONDS <= window <= MAX_AUDIO_WINDOW_SECONDS:
      problems.append(f'"window_seconds" must be in '
                      f'[{MIN_AUDIO_HOP_SECONDS:g}, '
                      f'{MAX_AUDIO_WINDOW_SECONDS:g}], it is {window:g}')
    elif not MIN_AUDIO_HOP_SECONDS <= hop <= window:
      problems.append(f'"hop_seconds" must be in [{MIN_AUDIO_HOP_SECONDS:g}'
                      f', "window_seconds"], it is {hop:g}')
    elif window > hop * MAX_AUDIO_OVERLAP:
      problems.append(f'"window_seconds" must be at most {MAX_AUDIO_OVERLAP}'
                      f' x "hop_seconds", it is {window / hop:g} x')
    elif not problems:
      for key in ('window_seconds', 'hop_seconds'):
        if not _whole_samples(metadata[key], rate):
          problems.append(f'"{key}" x "sample_rate" must be a whole number '
                          f'of samples, it is {metadata[key] * rate:g}')
  _refuse(path, problems)
  return AudioModelSpec(path=path, name=metadata['name'],
                        version=metadata['version'],
                        labels=tuple(metadata['labels']),
                        sample_rate=metadata['sample_rate'],
                        window_seconds=float(metadata['window_seconds']),
                        hop_seconds=float(metadata['hop_seconds']),
                        threshold=float(metadata['threshold']),
                        extra=_extra(metadata, known))


def _input_bytes(window: int, height: int, width: int) -> int:
  return window * height * width * 3


def input_bytes(spec: ModelSpec) -> int:
  """Bytes of one model input: T x H x W x 3 uint8."""
  return _input_bytes(spec.window, spec.input_height, spec.input_width)


def check_scan_budget(spec: ModelSpec, fps: float, segment_seconds: float,
                      batch_size: int) -> None:
  """Refuses flags that, with this model, would hold more than
  ``MAX_SEGMENT_INPUT_BYTES`` of model inputs for one segment (every
  sample of a segment, each with its T frames) or
  ``MAX_BATCH_INPUT_BYTES`` for one inference batch; before any work."""
  each = input_bytes(spec)
  samples = math.ceil(fps * segment_seconds) + spec.window
  if samples * each > MAX_SEGMENT_INPUT_BYTES:
    raise ContractError(
        f'{samples} samples per segment (fps {fps:g} x --segment-seconds '
        f'{segment_seconds:g}) of {each} bytes each (the model\'s window x '
        f'input size x 3) exceed the limit of '
        f'{MAX_SEGMENT_INPUT_BYTES >> 20} MiB per segment: lower '
        '--segment-seconds or --fps')
  _check_batch_bytes(batch_size, each, '--batch-size')


def _check_batch_bytes(batch_size: int, each: int, flag: str) -> None:
  if batch_size * each > MAX_BATCH_INPUT_BYTES:
    raise ContractError(
        f'{flag} {batch_size} of {each}-byte inputs exceeds the limit '
        f'of {MAX_BATCH_INPUT_BYTES >> 20} MiB per batch: lower {flag} '
        f'to at most {MAX_BATCH_INPUT_BYTES // each}')


def audio_input_bytes(spec: AudioModelSpec) -> int:
  """Bytes of one audio model input: S float32 samples."""
  return spec.window_samples * 4


def check_audio_scan_budget(spec: AudioModelSpec, segment_seconds: float,
                            batch_size: int,
                            batch_flag: str = '--batch-size') -> None:
  """``check_scan_budget`` for an audio model: the windows that start in
  one segment (held at once, like its samples) and one batch of them."""
  each = audio_input_bytes(spec)
  windows = math.ceil(segment_seconds / spec.hop_seconds) + 1
  if windows * each > MAX_SEGMENT_INPUT_BYTES:
    raise ContractError(
        f'{windows} audio windows per segment (--segment-seconds '
        f'{segment_seconds:g} / "hop_seconds" {spec.hop_seconds:g}) of '
        f'{each} bytes each exceed the limit of '
        f'{MAX_SEGMENT_INPUT_BYTES >> 20} MiB per segment: lower '
        '--segment-seconds')
  _check_batch_bytes(batch_size, each, batch_flag)


def _not_a_number(text: str) -> float:
  raise ContractError(f'{text} is not a number the model contract accepts')


def read_metadata(path: str) -> Dict[str, Any]:
  """The JSON document of ``rescan_model.json`` from any Beam filesystem,
  bounded in size, without ``Infinity`` or ``NaN``; not yet checked."""
  meta_path = _join(path, METADATA_FILE)
  if not FileSystems.exists(meta_path):
    raise ContractError(f'{path} is not a rescan model: {METADATA_FILE} is '
                        'missing (see model/README.md)')
  with FileSystems.open(meta_path) as f:
    data = f.read(MAX_METADATA_BYTES + 1)
  if len(data) > MAX_METADATA_BYTES:
    raise ContractError(f'{meta_path} is larger than '
                        f'{MAX_METADATA_BYTES >> 10} KiB')
  try:
    # Infinity and NaN, which Python's json accepts, are refused.
    metadata = json.loads(data.decode('utf-8'),
                          parse_constant=_not_a_number)
  except ContractError as exc:
    raise ContractError(f'{meta_path}: {exc}') from exc
  except (UnicodeDecodeError, json.JSONDecodeError,
          RecursionError) as exc:
    raise ContractError(f'{meta_path} is not valid JSON: {exc}') from exc
  return metadata


def load_model_spec(path: str) -> ModelSpec:
  """Reads and checks a visual model's ``rescan_model.json``."""
  return parse_metadata(path, read_metadata(path))


def load_audio_model_spec(path: str) -> AudioModelSpec:
  """Reads and checks an audio model's ``rescan_model.json``."""
  return parse_audio_metadata(path, read_metadata(path))


_LOCAL_COPIES: Dict[str, str] = {}
_LOCAL_COPIES_LOCK = threading.Lock()


def local_model_dir(path: str) -> str:
  """A local directory holding the model, copied once per process if remote.

  ``tf.saved_model.load`` reads local paths; models on ``gs://`` or any
  other Beam filesystem are copied through ``FileSystems`` first.
  """
  if not storage.has_scheme(path):
    return path
  with _LOCAL_COPIES_LOCK:
    if path in _LOCAL_COPIES:
      return _LOCAL_COPIES[path]
    root = path.rstrip('/') + '/'
    target = tempfile.mkdtemp(prefix='rescan-model-')
    for metadata in FileSystems.match([root + '**'])[0].metadata_list:
      relative = metadata.path[len(root):]
      local = os.path.join(target, *relative.split('/'))
      os.makedirs(os.path.dirname(local), exist_ok=True)
      with FileSystems.open(metadata.path) as src, open(local, 'wb') as dst:
        while chunk := src.read(1 << 20):
          dst.write(chunk)
    _LOCAL_COPIES[path] = target
    return target


@dataclasses.dataclass(frozen=True)
class LoadedModel:
  """A loaded SavedModel and its serving function: ``frames`` (uint8) for
  a visual model, ``waveform`` (float32) for an audio one."""
  owner: Any
  function: Any
  input_name: str = INPUT_NAME
  input_dtype: str = 'uint8'

  def __call__(self, inputs: np.ndarray) -> np.ndarray:
    """Scores a batch; returns float32 ``[N, C]``."""
    tf = import_tensorflow()
    outputs = self.function(**{self.input_name: tf.constant(
        inputs, tf.dtypes.as_dtype(self.input_dtype))})
    return outputs[OUTPUT_NAME].numpy()


def load_signature(spec) -> LoadedModel:
  """Loads the SavedModel (of a ``ModelSpec`` or an ``AudioModelSpec``)
  and its ``serving_default`` function."""
  tf = import_tensorflow()
  local = local_model_dir(spec.path)
  try:
    loaded = tf.saved_model.load(local)
  except (OSError, ValueError, tf.errors.OpError) as exc:
    raise ContractError(f'{spec.path} is not a loadable SavedModel: '
                        f'{" ".join(str(exc).split())[:300]}') from exc
  signatures = getattr(loaded, 'signatures', {})
  if SIGNATURE not in signatures:
    raise ContractError(f'{spec.path} has no "{SIGNATURE}" signature '
                        f'(found: {sorted(signatures)})')
  if isinstance(spec, AudioModelSpec):
    return LoadedModel(owner=loaded, function=signatures[SIGNATURE],
                       input_name=AUDIO_INPUT_NAME, input_dtype='float32')
  return LoadedModel(owner=loaded, function=signatures[SIGNATURE])


def example_shape(spec) -> Tuple[Tuple[int, ...], str]:
  """The shape and dtype of one input of a model (``ModelSpec``: a frame
  or a window of frames, uint8; ``AudioModelSpec``: a waveform of S
  samples, float32), as the scan feeds it."""
  if isinstance(spec, AudioModelSpec):
    return (spec.window_samples,), 'float32'
  return expected_input_shape(spec)[1:], 'uint8'


def expected_input_shape(spec: ModelSpec) -> Tuple[Optional[int], ...]:
  frame = (spec.input_height, spec.input_width, 3)
  return (None, spec.window) + frame if spec.window > 1 else (None,) + frame


def check_signature(spec: ModelSpec, model: LoadedModel) -> None:
  """Checks input and output names, dtypes and shapes, then a probe call."""
  tf = import_tensorflow()
  function = model.function
  shape = _check_one_input(spec, function, INPUT_NAME, tf.uint8)
  expected = expected_input_shape(spec)
  if shape is None or len(shape) != len(expected) or any(
      got is not None and got != want
      for got, want in zip(shape[1:], expected[1:])):
    raise ContractError(f'{spec.path}: input "{INPUT_NAME}" must have shape '
                        f'{list(expected)}, it has {shape}')
  # A black and a white input: a probe call that must give valid scores.
  probe = np.zeros((2,) + expected[1:], np.uint8)
  probe[1] = 255
  _check_scores(spec, function, INPUT_NAME, tf.constant(probe))


def _check_scores(spec, function, input_name: str, probe) -> None:
  """The signature returns ``scores``, and a probe batch of 2 gives
  float32 ``[2, C]`` in ``[0, 1]``."""
  tf = import_tensorflow()
  outputs = function.structured_outputs
  if not isinstance(outputs, dict) or OUTPUT_NAME not in outputs:
    raise ContractError(f'{spec.path}: "{SIGNATURE}" must return '
                        f'"{OUTPUT_NAME}"')
  scores = function(**{input_name: probe})[OUTPUT_NAME]
  if scores.dtype != tf.float32:
    raise ContractError(f'{spec.path}: "{OUTPUT_NAME}" must be float32, it is '
                        f'{scores.dtype.name}')
  if tuple(scores.shape) != (2, len(spec.labels)):
    raise ContractError(
        f'{spec.path}: "{OUTPUT_NAME}" must have shape [N, {len(spec.labels)}]'
        f' for {len(spec.labels)} labels; a batch of 2 gave '
        f'{list(scores.shape)}')
  values = scores.numpy()
  if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
    raise ContractError(f'{spec.path}: "{OUTPUT_NAME}" must lie in [0, 1]')


def _check_one_input(spec, function, name: str, dtype) -> Tuple:
  """The signature's one input: its name and dtype; returns its shape
  (``None`` if the rank is open)."""
  _, inputs = function.structured_input_signature
  if set(inputs) != {name}:
    raise ContractError(f'{spec.path}: "{SIGNATURE}" must take exactly one '
                        f'input "{name}", it takes {sorted(inputs)}')
  tensor = inputs[name]
  if tensor.dtype != dtype:
    raise ContractError(f'{spec.path}: input "{name}" must be {dtype.name}, '
                        f'it is {tensor.dtype.name}')
  return (tuple(tensor.shape.as_list()) if tensor.shape.rank is not None
          else None)


def check_audio_signature(spec: AudioModelSpec, model: LoadedModel) -> None:
  """Checks an audio model's input (``waveform`` float32 ``[N, S]``, S
  open or ``spec.window_samples``) and output, then a probe call on
  silence and full-scale noise."""
  tf = import_tensorflow()
  function = model.function
  shape = _check_one_input(spec, function, AUDIO_INPUT_NAME, tf.float32)
  samples = spec.window_samples
  if shape is None or len(shape) != 2 or shape[1] not in (None, samples):
    raise ContractError(f'{spec.path}: input "{AUDIO_INPUT_NAME}" must have '
                        f'shape [None, {samples}] ("window_seconds" x '
                        f'"sample_rate"), it has {shape}')
  probe = np.zeros((2, samples), np.float32)
  probe[1] = np.random.default_rng(0).uniform(-1.0, 1.0, samples)
  _check_scores(spec, function, AUDIO_INPUT_NAME, tf.constant(probe))


def resolve_audio_model(path: str) -> AudioModelSpec:
  """Loads and fully checks an audio model before any work."""
  spec = load_audio_model_spec(path)
  check_audio_signature(spec, load_signature(spec))
  return spec


def resolve_model(path: str) -> ModelSpec:
  """Loads and fully checks a model; the pipeline calls this before work."""
  spec = load_model_spec(path)
  check_signature(spec, load_signature(spec))
  return spec
