"""The report's plots: inline SVG figures drawn by matplotlib's object API (never `pyplot`).

ROC and precision-recall curves on shared axes, confusion matrices side by side, and reference vs
current histograms of drifted features. Each function returns an HTML `<figure>` string; SVG ids are
made deterministic so a rerun rewrites an identical report.
"""

from __future__ import annotations

import html
import io
import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HIST_BINS = 40

CHALLENGER_COLOUR = "#1f77b4"
CHAMPION_COLOUR = "#ff7f0e"
REFERENCE_COLOUR = "#7f7f7f"
CURRENT_COLOUR = "#d62728"


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    return "—" if math.isnan(number) else f"{number:.{digits}f}"


def _new_figure(width: float, height: float, *, left: float = 0.7, bottom: float = 0.6, top: float = 0.4) -> Figure:
    """A figure of `width` × `height` inches whose axes leave fixed margins (inches) for labels and title.

    Fixed margins, not a layout engine: constrained layout draws each figure once more to measure its
    text, which made the report's figures take twice as long (5 figures: 1.04 s vs 0.57 s, this machine).
    The callers size the margins for what they put there (tick labels of class names, rotated or not).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=left / width, right=1 - 0.15 / width, bottom=bottom / height, top=1 - top / height)
    return fig


def _text_inches(labels: list[str], fontsize: float = 10) -> float:
    """About how wide the longest of `labels` is, in inches (DejaVu Sans averages ~0.6 em a character)."""
    return max((len(label) for label in labels), default=0) * 0.6 * fontsize / 72


_ID = re.compile(r'\bid="([^"]+)"')


def _svg(fig: Figure, key: str) -> str:
    """The figure as an inline `<svg>` element, with ids made unique in the page.

    Several SVGs share one HTML document, so matplotlib's ids (`figure_1`, clip paths, markers) are
    prefixed per plot: `url(#...)` and `href="#..."` references then still find their own target.
    """
    import matplotlib

    buffer = io.StringIO()
    rc = {"svg.fonttype": "none", "svg.hashsalt": "retrain-report", "svg.image_inline": True}
    with matplotlib.rc_context(rc):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.DOTALL)
    prefix = re.sub(r"[^A-Za-z0-9_-]", "_", key) + "-"
    text = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = text.replace("url(#", f"url(#{prefix}").replace('href="#', f'href="#{prefix}')
    return text.replace("<svg ", f'<svg role="img" aria-label="{html.escape(key)}" ', 1)


def _figure(svg: str, caption: str, css: str = "") -> str:
    css_attr = f' class="{css}"' if css else ""
    return f"<figure{css_attr}>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _curve_inputs(y: np.ndarray, proba: np.ndarray, classes: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Binary: the positive class. Multiclass: micro-averaged one-vs-rest (every class's column stacked)."""
    from sklearn.preprocessing import label_binarize

    if len(classes) == 2:
        return (y == classes[1]).astype(int), proba[:, 1]
    return label_binarize(y, classes=classes).ravel(), proba.ravel()


def curve_plots(y: np.ndarray, models: dict[str, np.ndarray], classes: list[Any]) -> list[str]:
    from sklearn import metrics as skm

    colours = {"challenger": CHALLENGER_COLOUR, "champion": CHAMPION_COLOUR}
    roc = _new_figure(5.2, 4.4)
    ax_roc = roc.add_subplot()
    ax_roc.plot([0, 1], [0, 1], linestyle=":", color="#999999", linewidth=1, label="chance")
    pr = _new_figure(5.2, 4.4)
    ax_pr = pr.add_subplot()
    # Multiclass curves pool every class (micro average); the legend says so, since the metrics table's
    # roc_auc / average_precision are macro averages (the gate's), and the two numbers differ.
    kind = "" if len(classes) == 2 else "micro-average "
    for name, proba in models.items():
        truth, score = _curve_inputs(y, proba, classes)
        fpr, tpr, _ = skm.roc_curve(truth, score, drop_intermediate=True)
        auc = skm.auc(fpr, tpr)
        ax_roc.plot(fpr, tpr, color=colours[name], linewidth=2, label=f"{name} ({kind}AUC {auc:.3f})")
        precision, recall, _ = skm.precision_recall_curve(truth, score, drop_intermediate=True)
        ap = skm.average_precision_score(truth, score)
        ax_pr.step(
            recall, precision, where="post", color=colours[name], linewidth=2, label=f"{name} ({kind}AP {ap:.3f})"
        )
    base = float(np.mean(_curve_inputs(y, next(iter(models.values())), classes)[0]))
    ax_pr.axhline(base, linestyle=":", color="#999999", linewidth=1, label=f"chance ({base:.2f})")
    ax_roc.set(
        xlabel="false positive rate", ylabel="true positive rate", title="ROC curve", xlim=(0, 1), ylim=(0, 1.01)
    )
    ax_pr.set(xlabel="recall", ylabel="precision", title="Precision-recall curve", xlim=(0, 1), ylim=(0, 1.01))
    for ax in (ax_roc, ax_pr):
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if ax is ax_roc else "lower left", fontsize=9)
        ax.set_aspect("equal")
    on = "both models on the same holdout" if len(models) > 1 else f"the {next(iter(models))} on the holdout"
    return [
        _figure(_svg(roc, "roc-curve"), f"ROC: {on}"),
        _figure(_svg(pr, "pr-curve"), f"Precision-recall: {on}"),
    ]


def confusion_plot(y: np.ndarray, proba: np.ndarray, classes: list[Any], who: str) -> str:
    from sklearn.metrics import confusion_matrix

    labels = np.asarray(classes)
    matrix = confusion_matrix(y, labels[proba.argmax(axis=1)], labels=labels)
    n = len(classes)
    size = min(3.2 + 0.35 * n, 9)
    names = [str(c) for c in classes]
    label_room = _text_inches(names)  # the y tick labels on the left; the x ones below, rotated past 6
    below = 0.8 * label_room + 0.35 if n > 6 else 0.25  # a 45° label is ~0.7 of its length tall
    fig = _new_figure(size + 0.6 + label_room, size + below, left=0.55 + label_room, bottom=0.5 + below)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues" if who == "challenger" else "Oranges", vmin=0)
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(range(n), labels=names, rotation=45 if n > 6 else 0)
    ax.set_yticks(range(n), labels=names)
    ax.set(xlabel="predicted", ylabel="true", title=f"{who}: confusion matrix")
    if n <= 12:
        totals = matrix.sum(axis=1, keepdims=True)
        shares = np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)
        threshold = 0.6 * matrix.max() if matrix.size else 0  # white text only on the dark cells
        for i in range(n):
            for j in range(n):
                colour = "white" if matrix[i, j] > threshold else "#1d2330"
                ax.text(j, i, f"{matrix[i, j]}\n{shares[i, j]:.0%}", ha="center", va="center", color=colour, fontsize=9)
    return _figure(_svg(fig, f"confusion-{who}"), f"{who} (rows: true class, share of the row)", "small")


def histogram_plot(feature: str, reference: np.ndarray, current: np.ndarray, stats: Any) -> str:
    # The x range covers the central 99% of each side (so a shifted day is not cut off by the larger
    # reference), and a few far outliers do not squeeze both histograms into a couple of bins.
    ref_low, ref_high = np.quantile(reference, [0.005, 0.995])
    cur_low, cur_high = np.quantile(current, [0.005, 0.995])
    low, high = float(min(ref_low, cur_low)), float(max(ref_high, cur_high))
    if not high > low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, HIST_BINS + 1)
    fig = _new_figure(5.2, 3.2, bottom=0.55, top=0.35)
    ax = fig.add_subplot()
    ax.hist(
        reference,
        bins=edges,
        density=True,
        histtype="stepfilled",
        alpha=0.45,
        color=REFERENCE_COLOUR,
        label=f"reference ({len(reference):,} rows)",
    )
    ax.hist(
        current,
        bins=edges,
        density=True,
        histtype="step",
        linewidth=2,
        color=CURRENT_COLOUR,
        label=f"current ({len(current):,} rows)",
    )
    ax.set(
        xlabel=feature,
        ylabel="density",
        title=f"{feature}: PSI {fmt(stats.psi, 3)}, KS {fmt(stats.ks, 3)}, shift {stats.mean_shift:+.2f} sd",
    )
    # Room above the bars for the legend: a fixed place ("best" costs a search over every artist).
    ax.set_ylim(0, ax.get_ylim()[1] * 1.25)
    ax.legend(loc="upper left", ncols=2, fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return _figure(_svg(fig, f"drift-{feature}"), f"{feature}: reference window vs current day (central 99% of each)")


# --- sections ---------------------------------------------------------------------------------
