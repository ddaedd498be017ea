"""compare.html's scatter: each run's name beside its point, never over another name or point."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sweeplab.kaggle.report import _overlap, label_apart  # noqa: E402


def test_names_never_overlap_each_other_or_the_legend_and_crowded_points_are_counted():
    rng = np.random.default_rng(1)
    # 20 spread trials and 8 collapsed ones at chance, all but on top of each other.
    val = np.r_[rng.uniform(0.5, 0.9, 20), 0.5 + rng.normal(0, 0.002, 8)]
    public = np.r_[val[:20] - rng.uniform(0, 0.1, 20), 0.5 + rng.normal(0, 0.002, 8)]
    figure, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(val, public)
    ax.plot([0.45, 0.9], [0.45, 0.9], "k--", label="public = val")
    ax.legend(loc="lower right")
    unnamed = label_apart(ax, list(zip(val, public, strict=True)), [f"run{i:05d}" for i in range(len(val))])
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) + unnamed == 28 and unnamed >= 5  # the chance cluster has no room for 8 names
    legend = ax.get_legend().get_window_extent(renderer)
    for i, a in enumerate(boxes):
        assert not _overlap((a.x0, a.y0, a.x1, a.y1), (legend.x0, legend.y0, legend.x1, legend.y1))
        for b in boxes[i + 1 :]:
            assert not _overlap((a.x0, a.y0, a.x1, a.y1), (b.x0, b.y0, b.x1, b.y1))
    plt.close(figure)
