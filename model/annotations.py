"""Labelled footage: a folder of videos plus ``annotations.csv``.

``annotations.csv`` has the columns ``video`` (path relative to the folder),
``label``, ``start_s`` and ``end_s``: one row per labelled interval
``[start_s, end_s)``.  Every video in the folder is data; any time of it not
covered by an interval of a label is a negative for that label.  A row with
an empty ``label`` (and empty times) lists a video with nothing to label,
which also admits a file whose extension is not one of ``VIDEO_EXTENSIONS``.

An optional fifth column ``modality`` (``visual``, the default when the
cell or the column is missing, or ``audio``) lets one file hold both
kinds of label: visual intervals are when a label is **on screen**, audio
intervals when it is **heard** (e.g. ``gunfire``).  A model is trained
and evaluated on the rows of its own modality; the other rows are still
checked, and their videos are still data (negatives).  A file without
the column is read as all of the modality being trained.

``load_labelled_videos`` reads and checks everything at once and raises one
``DataError`` that names every problem with its CSV line.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import math
from typing import Dict, List, Optional, Sequence, Tuple

from apache_beam.io.filesystems import FileSystems

from schemas import tables

REQUIRED_COLUMNS = ('video', 'label', 'start_s', 'end_s')
MODALITY_COLUMN = 'modality'
VISUAL, AUDIO, MODALITIES = (tables.MODALITY_VISUAL, tables.MODALITY_AUDIO,
                             tables.MODALITIES)
VIDEO_EXTENSIONS = ('.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi', '.ts',
                    '.mpg', '.mpeg', '.flv', '.wmv', '.3gp')
ANNOTATIONS_FILE = 'annotations.csv'
# A DataError lists at most this many problems.
_MAX_PROBLEMS = 20


class DataError(ValueError):
  """The training or evaluation data is unusable; the message says why."""


@dataclasses.dataclass(frozen=True)
class Annotation:
  """``label`` is on screen in ``video`` during ``[start_s, end_s)``."""
  video: str
  label: str
  start_s: float
  end_s: float


@dataclasses.dataclass(frozen=True)
class LabelledVideos:
  """The checked data set: videos, their annotations and the label list."""
  root: str
  videos: Tuple[str, ...]            # relative paths, sorted
  annotations: Tuple[Annotation, ...]
  labels: Tuple[str, ...]
  fingerprint: str                   # sha256, see ``data_fingerprint``

  def uri(self, video: str) -> str:
    return FileSystems.join(self.root.rstrip('/'), video)

  def annotations_of(self, video: str) -> Tuple[Annotation, ...]:
    return tuple(a for a in self.annotations if a.video == video)

  def positive_videos(self) -> Tuple[str, ...]:
    """Videos with at least one annotation."""
    annotated = {a.video for a in self.annotations}
    return tuple(v for v in self.videos if v in annotated)


def parse_label_list(text: Optional[str]) -> Optional[Tuple[str, ...]]:
  """``"a,b"`` -> ``("a", "b")``; ``None`` or empty -> ``None``."""
  if not text:
    return None
  labels = tuple(l.strip() for l in text.split(',') if l.strip())
  if len(set(labels)) != len(labels):
    raise DataError(f'--labels has duplicates: {text}')
  return labels or None


def _number(text: str, column: str, line: int,
            problems: List[str]) -> Optional[float]:
  try:
    value = float(text)
  except ValueError:
    problems.append(f'line {line}: {column} {text!r} is not a number')
    return None
  if not math.isfinite(value):
    problems.append(f'line {line}: {column} {text!r} is not finite')
    return None
  if value < 0:
    problems.append(f'line {line}: {column} {text} is negative')
    return None
  return value


def parse_annotations(
    text: str, known_videos: Sequence[str],
    labels: Optional[Sequence[str]] = None, source: str = ANNOTATIONS_FILE,
    modality: str = VISUAL) -> Tuple[List[Annotation], List[str]]:
  """Parses and checks the CSV text.

  Args:
    text: the CSV content.
    known_videos: relative paths of the videos in the data folder.
    labels: when given, the only labels allowed (in rows of ``modality``).
    source: the file's name, for messages.
    modality: whose intervals to return, ``VISUAL`` or ``AUDIO``; with a
      ``modality`` column, rows of the other one are checked and skipped.

  Returns:
    ``(annotations, listed_videos)``: the intervals, and the videos named by
    any row (including rows with an empty label).

  Raises:
    DataError: naming every problem found, with its line.
  """
  reader = csv.DictReader(io.StringIO(text))
  columns = [c.strip() for c in reader.fieldnames or []]
  missing = [c for c in REQUIRED_COLUMNS if c not in columns]
  if missing:
    raise DataError(f'{source} is missing column(s) {", ".join(missing)}; '
                    f'it needs {", ".join(REQUIRED_COLUMNS)} and has '
                    f'{", ".join(columns) or "none"}')
  has_modality = MODALITY_COLUMN in columns
  known = set(known_videos)
  allowed = set(labels) if labels is not None else None
  annotations: List[Annotation] = []
  listed: List[str] = []
  problems: List[str] = []
  for line, raw in enumerate(reader, start=2):
    if None in raw:
      problems.append(f'line {line}: more fields than columns')
      continue
    row = {k.strip(): (v or '').strip() for k, v in raw.items()}
    video, label = row['video'], row['label']
    if not video:
      problems.append(f'line {line}: "video" is empty')
      continue
    if video not in known:
      problems.append(f'line {line}: video {video!r} is not in the data '
                      'folder (missing or unknown file)')
      continue
    listed.append(video)
    row_modality = (row.get(MODALITY_COLUMN) or VISUAL if has_modality
                    else modality)
    if row_modality not in MODALITIES:
      problems.append(f'line {line}: modality {row_modality!r} is not one '
                      f'of {", ".join(MODALITIES)}')
      continue
    if not label:
      if row['start_s'] or row['end_s']:
        problems.append(f'line {line}: times are given but "label" is empty')
      continue
    wanted = row_modality == modality
    known_label = allowed is None or label in allowed or not wanted
    if not known_label:
      problems.append(f'line {line}: label {label!r} is not one of '
                      f'--labels {",".join(labels)}')
    start = _number(row['start_s'], 'start_s', line, problems)
    end = _number(row['end_s'], 'end_s', line, problems)
    if start is None or end is None or not known_label:
      continue
    if end <= start:
      problems.append(f'line {line}: end_s {row["end_s"]} must be greater '
                      f'than start_s {row["start_s"]}')
      continue
    if wanted:
      annotations.append(Annotation(video, label, start, end))
  if problems:
    shown = problems[:_MAX_PROBLEMS]
    more = len(problems) - len(shown)
    raise DataError(f'{source} has {len(problems)} problem(s):\n  ' +
                    '\n  '.join(shown) +
                    (f'\n  ... and {more} more' if more else ''))
  return annotations, listed


def data_fingerprint(annotations_bytes: bytes,
                     video_sizes: Dict[str, int]) -> str:
  """sha256 over the annotations' bytes and each video's name and size."""
  digest = hashlib.sha256()
  digest.update(annotations_bytes)
  for name in sorted(video_sizes):
    digest.update(f'\0{name}\0{video_sizes[name]}'.encode('utf-8'))
  return digest.hexdigest()


def _video_files(root: str) -> Dict[str, int]:
  """Relative path -> size of every file under ``root``."""
  prefix = root.rstrip('/') + '/'
  matched = FileSystems.match([prefix + '**'])[0].metadata_list
  return {m.path[len(prefix):]: m.size_in_bytes for m in matched}


def _read(path: str) -> bytes:
  if not FileSystems.exists(path):
    raise DataError(f'no annotations file at {path}')
  with FileSystems.open(path) as f:
    return f.read()


def load_labelled_videos(root: str, annotations_path: Optional[str] = None,
                         labels: Optional[Sequence[str]] = None,
                         modality: str = VISUAL) -> LabelledVideos:
  """Reads the data folder and its annotations and checks them.

  Args:
    root: the data folder (any Beam filesystem).
    annotations_path: the CSV; ``root/annotations.csv`` by default.
    labels: the label list; by default the sorted labels of the CSV's
      rows of ``modality``.
    modality: ``VISUAL`` or ``AUDIO``: whose intervals are kept.
  """
  if not FileSystems.exists(root):
    raise DataError(f'no data folder at {root}')
  annotations_path = annotations_path or FileSystems.join(
      root.rstrip('/'), ANNOTATIONS_FILE)
  content = _read(annotations_path)
  try:
    text = content.decode('utf-8-sig')
  except UnicodeDecodeError as exc:
    raise DataError(f'{annotations_path} is not UTF-8 text: {exc}') from exc
  files = _video_files(root)
  annotations, listed = parse_annotations(text, sorted(files), labels,
                                          source=annotations_path,
                                          modality=modality)
  videos = sorted({f for f in files if f.lower().endswith(VIDEO_EXTENSIONS)}
                  | set(listed))
  if not videos:
    raise DataError(f'{root} holds no videos (extensions: '
                    f'{" ".join(VIDEO_EXTENSIONS)})')
  label_list = tuple(labels) if labels is not None else tuple(
      sorted({a.label for a in annotations}))
  if not label_list:
    raise DataError(f'{annotations_path} labels nothing ({modality}) and '
                    'no --labels were given: there is nothing to learn')
  return LabelledVideos(
      root=root, videos=tuple(videos),
      annotations=tuple(sorted(annotations, key=lambda a: (
          a.video, a.label, a.start_s))),
      labels=label_list,
      fingerprint=data_fingerprint(content, {v: files[v] for v in videos}))
