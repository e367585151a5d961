"""The precision-recall plot of an evaluation: PNG bytes (matplotlib, Agg)."""
from __future__ import annotations

import io
from typing import Dict, Optional, Tuple

from model.metrics import PrCurve

Point = Tuple[float, float]  # (recall, precision)


def pr_curve_png(curves: Dict[str, PrCurve],
                 operating_points: Dict[str, Optional[Point]],
                 pr_auc: Dict[str, Optional[float]], title: str) -> bytes:
  """One step curve per label, with the chosen threshold's point marked."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use('Agg')
  from matplotlib import pyplot  # pylint: disable=import-outside-toplevel
  figure, axes = pyplot.subplots(figsize=(6, 4.5), dpi=100)
  try:
    for label, curve in curves.items():
      if not curve.positives:
        continue
      auc = pr_auc.get(label)
      name = f'{label} (PR AUC {auc:.3f})' if auc is not None else label
      line, = axes.step([0.0, *curve.recall], [1.0, *curve.precision],
                        where='post', label=name)
      point = operating_points.get(label)
      if point is not None:
        axes.plot(*point, 'o', color=line.get_color())
    axes.set_xlabel('recall')
    axes.set_ylabel('precision')
    axes.set_xlim(0.0, 1.0)
    axes.set_ylim(0.0, 1.02)
    axes.grid(alpha=0.3)
    axes.set_title(title, fontsize=10)
    axes.legend(loc='lower left', fontsize=8)
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format='png')
    return buffer.getvalue()
  finally:
    pyplot.close(figure)
