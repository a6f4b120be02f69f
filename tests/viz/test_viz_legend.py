"""The summary legend names the other tumors' dashed outline (issue 15, point 6)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np


def test_summary_legend_has_the_other_tumor_outline(plan, tmp_path) -> None:
    import matplotlib.pyplot as plt

    from rfasim.viz import plot_summary

    other = np.zeros(plan.grid.shape, bool)
    other[2:7, 2:7, 2:7] = True  # a small tumor in a corner of the region
    figure = plot_summary(replace(plan, other_tumor_masks=[other]), tmp_path / "summary.png")
    labels = [text.get_text() for legend in figure.legends for text in legend.get_texts()]
    assert "other tumor" in labels
    handle = next(h for legend in figure.legends for h, t in zip(legend.legend_handles, legend.get_texts(), strict=True)
                  if t.get_text() == "other tumor")
    assert handle.get_linestyle() == "--"
    plt.close(figure)
    # no other tumor, no legend entry
    figure = plot_summary(plan, tmp_path / "plain.png")
    assert "other tumor" not in [t.get_text() for legend in figure.legends for t in legend.get_texts()]
    plt.close(figure)
