"""Fixed-width tables of evaluation results, for the terminal."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from model.clip_metrics import ClipLevelStats


def _number(value: Optional[float], width: int = 6) -> str:
  return f'{"-":>{width}}' if value is None else f'{value:{width}.3f}'


def format_label_report(rows: List[Dict], threshold_key: str) -> str:
  """A ``metrics.label_report`` at one of its thresholds."""
  lines = [f'  {"label":<16} {"PR AUC":>6} {"prec":>6} {"recall":>6} '
           f'{"F1":>6} {"pos":>6} {"n":>6}']
  for row in rows:
    stats = row[threshold_key]
    lines.append(f'  {row["label"]:<16} {_number(row["pr_auc"])} '
                 f'{_number(stats["precision"])} {_number(stats["recall"])} '
                 f'{_number(stats["f1"])} {row["positives"]:>6} '
                 f'{row["samples"]:>6}')
  return '\n'.join(lines)


def format_clip_stats(stats: Sequence[ClipLevelStats]) -> str:
  """Clip-level results per label."""
  lines = [f'  {"label":<16} {"events":>6} {"found":>6} {"recall":>6} '
           f'{"clips":>6} {"false":>6} {"false/h":>7} {"neg h":>6}']
  for s in stats:
    lines.append(f'  {s.label:<16} {s.intervals:>6} {s.intervals_found:>6} '
                 f'{_number(s.interval_recall)} {s.clips:>6} '
                 f'{s.false_clips:>6} {_number(s.false_clips_per_hour, 7)} '
                 f'{s.negative_hours:6.3f}')
  return '\n'.join(lines)
