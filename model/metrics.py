"""Frame-level metrics in numpy: PR curves, PR AUC, and threshold choice.

PR AUC is **average precision** (AP): the step-wise area
``sum_n (R_n - R_{n-1}) * P_n`` over the distinct score thresholds from high
to low, with tied scores forming one threshold.  It does not interpolate
between points (the trapezoid rule overstates the area of a PR curve), and
it equals scikit-learn's ``average_precision_score``.

A sample counts as flagged when its score is ``>= threshold``, the scan's
rule.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class PrCurve:
  """One point per distinct score, from the highest score down.

  ``precision[i]`` and ``recall[i]`` are those of flagging every sample
  with score ``>= thresholds[i]``.
  """
  thresholds: np.ndarray
  precision: np.ndarray
  recall: np.ndarray
  positives: int


@dataclasses.dataclass(frozen=True)
class ThresholdStats:
  threshold: float
  precision: Optional[float]   # None when nothing is flagged
  recall: Optional[float]      # None when there are no positives
  f1: Optional[float]
  flagged: int
  positives: int


def pr_curve(targets: np.ndarray, scores: np.ndarray) -> PrCurve:
  """The precision-recall curve of one label."""
  targets = np.asarray(targets, np.float64).ravel()
  scores = np.asarray(scores, np.float64).ravel()
  order = np.argsort(-scores, kind='stable')
  sorted_scores, sorted_targets = scores[order], targets[order]
  true_positives = np.cumsum(sorted_targets)
  # The last index of each run of tied scores is one threshold.
  last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_scores)),
                      len(sorted_scores) - 1] if len(scores) else np.array(
                          [], np.int64)
  tp = true_positives[last_of_tie]
  flagged = last_of_tie + 1.0
  positives = int(targets.sum())
  recall = tp / positives if positives else np.zeros_like(tp)
  return PrCurve(thresholds=sorted_scores[last_of_tie], precision=tp / flagged,
                 recall=recall, positives=positives)


def average_precision(targets: np.ndarray, scores: np.ndarray
                      ) -> Optional[float]:
  """PR AUC as average precision; ``None`` when there are no positives."""
  curve = pr_curve(targets, scores)
  if curve.positives == 0:
    return None
  recall_steps = np.diff(np.r_[0.0, curve.recall])
  return float(np.sum(recall_steps * curve.precision))


def stats_at(targets: np.ndarray, scores: np.ndarray,
             threshold: float) -> ThresholdStats:
  """Precision, recall and F1 when flagging scores ``>= threshold``."""
  targets = np.asarray(targets, np.float64).ravel()
  flagged = np.asarray(scores).ravel() >= threshold
  tp = float(targets[flagged].sum())
  positives = int(targets.sum())
  precision = tp / flagged.sum() if flagged.any() else None
  recall = tp / positives if positives else None
  f1 = None
  if precision is not None and recall is not None:
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
  return ThresholdStats(float(threshold), precision, recall, f1,
                        int(flagged.sum()), positives)


@dataclasses.dataclass(frozen=True)
class ThresholdChoice:
  threshold: float
  target_precision: float
  target_reached: bool
  rule: str


def _precision_table(targets: np.ndarray, scores: np.ndarray,
                     candidates: np.ndarray) -> Dict[str, np.ndarray]:
  """Per candidate threshold and label: TP, flagged and positives."""
  tp = np.zeros((len(candidates), targets.shape[1]))
  flagged = np.zeros_like(tp)
  for column in range(targets.shape[1]):
    order = np.argsort(scores[:, column], kind='stable')
    ranked = scores[order, column]
    # Samples with score >= c are those from the first index >= c.
    first = np.searchsorted(ranked, candidates, side='left')
    positives_from = np.r_[np.cumsum(targets[order, column][::-1])[::-1], 0.0]
    tp[:, column] = positives_from[first]
    flagged[:, column] = len(ranked) - first
  return {'tp': tp, 'flagged': flagged,
          'positives': targets.sum(axis=0)[np.newaxis, :]}


def choose_threshold(targets: np.ndarray, scores: np.ndarray,
                     target_precision: float) -> ThresholdChoice:
  """The one threshold of a multi-label model, for a target precision.

  Candidates are the observed scores.  The choice is the lowest threshold at
  which every label with positives has precision ``>= target_precision``
  (a label that flags nothing there has no false positives and passes).
  When no threshold reaches that, the threshold with the highest mean F1
  over those labels is chosen instead.

  Args:
    targets: ``[N, C]`` multi-hot.
    scores: ``[N, C]`` in ``[0, 1]``.
    target_precision: in ``(0, 1]``.
  """
  targets = np.asarray(targets, np.float64).reshape(len(targets), -1)
  scores = np.asarray(scores, np.float64).reshape(len(scores), -1)
  has_positives = targets.sum(axis=0) > 0
  candidates = np.unique(scores)
  if not has_positives.any() or not len(candidates):
    return ThresholdChoice(0.5, target_precision, False,
                           'no positives: kept 0.5')
  table = _precision_table(targets[:, has_positives],
                           scores[:, has_positives], candidates)
  tp, flagged, positives = table['tp'], table['flagged'], table['positives']
  precision = np.divide(tp, flagged, out=np.ones_like(tp),
                        where=flagged > 0)
  reached = np.all(precision >= target_precision, axis=1)
  if reached.any():
    return ThresholdChoice(
        float(candidates[np.argmax(reached)]), target_precision, True,
        f'lowest threshold with precision >= {target_precision:g} for '
        'every label')
  recall = tp / positives
  f1 = np.divide(2 * precision * recall, precision + recall,
                 out=np.zeros_like(tp), where=(precision + recall) > 0)
  best = int(np.argmax(f1.mean(axis=1)))
  return ThresholdChoice(
      float(candidates[best]), target_precision, False,
      f'precision {target_precision:g} is unreachable on this data; '
      'threshold with the highest mean F1')


def label_report(targets: np.ndarray, scores: np.ndarray,
                 labels: Sequence[str],
                 thresholds: Dict[str, float]) -> List[Dict]:
  """Per label: PR AUC and P/R/F1 at each named threshold, JSON-ready."""
  rows = []
  for column, label in enumerate(labels):
    row = {'label': label,
           'pr_auc': average_precision(targets[:, column], scores[:, column]),
           'positives': int(targets[:, column].sum()),
           'samples': int(len(targets))}
    for name, threshold in thresholds.items():
      row[name] = dataclasses.asdict(
          stats_at(targets[:, column], scores[:, column], threshold))
    rows.append(row)
  return rows
