"""The HTML report of one retrain: one self-contained file a person opens in a browser, offline.

It shows the challenger against the champion on the same fresh holdout (metric table, ROC and
precision-recall curves on shared axes, confusion matrices side by side), the gate decision with its
reasons, and the drift of the day's features against the champion's training window (a table of every
feature, drifted ones highlighted, and a histogram of reference vs current for each drifted feature).

Self-contained means no network: the CSS is inline, every plot is an inline `<svg>` drawn by
matplotlib, there is no JavaScript, and a Content-Security-Policy forbids loading anything else, so the
file reads the same from an MLflow artifact, an e-mail attachment or an air-gapped laptop.

Libraries: scikit-learn computes the metrics and curves (the same conventions as `retrain.model.evaluate`:
the positive class is `classes[1]`, multiclass scores are one-vs-rest / macro averages) and matplotlib
draws them. Evidently was the first choice for the drift part, but its 0.7.23 release fails to import
with pandas 3.1 (`cannot import name 'infer_dtype_from_object'`); see `retrain.drift`.

matplotlib is imported inside the functions and used through its object API (`Figure`, never
`pyplot`): no GUI backend is selected (rendering is headless, as with Agg), no global figure state
leaks between reports, and importing this module costs nothing. The output is deterministic for the
same inputs (no timestamps, fixed SVG ids), so rerunning a day rewrites an identical file.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrain.drift import DayDrift
from retrain.report.plots import confusion_plot, curve_plots, fmt, histogram_plot

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MAX_DRIFT_PLOTS", "REPORT_METRICS", "build_report", "metric_table", "write_report"]

REPORT_METRICS: tuple[str, ...] = ("roc_auc", "accuracy", "f1", "precision", "recall", "average_precision")
MAX_PERFORMANCE_ROWS = 60
"""The realised-performance table shows at most this many scored days (the latest)."""
MAX_DRIFT_PLOTS = 24
"""At most this many histograms (the drifted features with the largest PSI first): a report of a
1000-feature model must stay a readable, small file."""
_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 0;
       color: #1d2330; background: #f5f6f8; line-height: 1.45; }
header { background: #1d2330; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #c6cbd6; font-size: 14px; }
main { max-width: 1200px; margin: 0 auto; padding: 8px 32px 40px; }
section { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 16px 20px; margin: 18px 0; }
h2 { font-size: 18px; margin: 0 0 12px; }
table { border-collapse: collapse; font-size: 14px; margin: 6px 0 10px; }
th, td { padding: 5px 12px; border-bottom: 1px solid #e6e9ef; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f0f2f6; font-weight: 600; }
tr.gate td { font-weight: 600; background: #f3f7ff; }
tr.drifted td { background: #fdecec; font-weight: 600; }
td.over { color: #b3261e; }
.badge { display: inline-block; padding: 3px 12px; border-radius: 12px; font-weight: 700; color: #fff;
         letter-spacing: 0.04em; }
.badge.deploy { background: #1e8e3e; }
.badge.skip { background: #b06000; }
.badge.drifted { background: #b3261e; }
.badge.stable { background: #1e8e3e; }
.note { color: #5f6675; font-size: 13px; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; flex: 1 1 360px; max-width: 560px; }
figure.small { flex: 0 1 400px; max-width: 420px; }
.row { display: flex; flex-wrap: wrap; gap: 0 18px; }
.row > section { flex: 1 1 420px; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { font-size: 13px; color: #5f6675; text-align: center; }
ul.reasons { margin: 6px 0; padding-left: 22px; }
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


# --- numbers ----------------------------------------------------------------------------------


def _proba_matrix(proba: Any, n_classes: int, who: str, n_rows: int) -> np.ndarray:
    """Probabilities as (rows, classes); a 1-D array is the positive class's probability (binary)."""
    array = np.asarray(proba, dtype=np.float64)
    if array.ndim == 1 and n_classes == 2:
        array = np.column_stack([1.0 - array, array])
    if array.ndim != 2 or array.shape[1] != n_classes:
        raise ValueError(f"{who} probabilities have shape {np.shape(proba)}; expected ({n_rows}, {n_classes})")
    if array.shape[0] != n_rows:
        raise ValueError(f"{who} probabilities have {array.shape[0]} rows but y_true has {n_rows}")
    return array


def metric_table(
    y_true: Any, proba: Any, classes: Sequence[Any], metrics: Sequence[str] = REPORT_METRICS
) -> dict[str, float]:
    """Every metric of one model on the holdout, from its probabilities (predictions are the argmax).

    Returns:
        `{metric: score}`; ranking metrics are NaN on a single-class holdout.
    """
    classes = list(classes)
    y = np.asarray(y_true)
    matrix = _proba_matrix(proba, len(classes), "model", len(y))
    from retrain.model.evaluate import metrics_from_proba

    return metrics_from_proba(y, matrix, classes, metrics)


# --- plots ------------------------------------------------------------------------------------


def _decision_section(decision: Mapping[str, Any], metric: str) -> str:
    deploy = bool(decision.get("deploy", decision.get("decision") == "deploy"))
    word = str(decision.get("decision") or ("deploy" if deploy else "skip"))
    css = "deploy" if deploy else "skip"
    reasons = "".join(f"<li>{html.escape(str(r))}</li>" for r in decision.get("reasons") or [])
    rows = [
        ("metric", html.escape(str(decision.get("metric") or metric))),
        ("challenger score", fmt(decision.get("challenger_score"))),
        ("champion score (same holdout)", fmt(decision.get("champion_score"))),
        ("threshold", fmt(decision.get("threshold"))),
        ("required improvement", fmt(decision.get("min_improvement"))),
    ]
    if decision.get("confidence") is not None:  # the paired bootstrap gate: show both intervals
        level = f"{float(decision['confidence']):.0%}"
        for label, low, high in (
            ("challenger score", "challenger_ci_low", "challenger_ci_high"),
            ("challenger − champion", "ci_low", "ci_high"),
        ):
            if decision.get(low) is not None:
                rows.append((f"{label}, {level} interval", f"[{fmt(decision.get(low))}, {fmt(decision.get(high))}]"))
    body = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return (
        '<section id="decision"><h2>Gate decision: '
        f'<span class="badge {css}">{html.escape(word.upper())}</span></h2>'
        f'<table class="decision"><tbody>{body}</tbody></table>'
        f'<h3>Reasons</h3><ul class="reasons">{reasons or "<li>no reasons recorded</li>"}</ul></section>'
    )


def _slices_section(decision: Mapping[str, Any], metric: str) -> str:
    """The slice table (`RETRAIN_SLICE_COLUMNS`): each slice's rows, both scores and the interval of the gain."""
    slices = decision.get("slices") or []
    if not slices:
        return ""
    level = "" if decision.get("confidence") is None else f" ({float(decision['confidence']):.0%})"
    head = (
        f"<tr><th>slice</th><th>rows</th><th>challenger {html.escape(metric)}</th><th>champion</th>"
        f"<th>challenger − champion interval{level}</th><th>verdict</th></tr>"
    )
    rows = []
    for s in slices:
        interval = "—" if s.get("ci_low") is None else f"[{s['ci_low']:+.4f}, {s['ci_high']:+.4f}]"
        verdict = html.escape(str(s.get("verdict")))
        if s.get("note"):
            verdict += f' <span class="note">({html.escape(str(s["note"]))})</span>'
        css = ' class="drifted"' if s.get("verdict") == "worse" else ""
        rows.append(
            f"<tr{css}><td>{html.escape(str(s.get('column')))} = {html.escape(str(s.get('value')))}</td>"
            f"<td>{int(s.get('rows') or 0):,}</td><td>{fmt(s.get('challenger'))}</td><td>{fmt(s.get('champion'))}</td>"
            f"<td>{interval}</td><td>{verdict}</td></tr>"
        )
    return (
        '<section id="slices"><h2>Slices: is the challenger surely worse anywhere?</h2>'
        '<p class="note">A slice is "worse" when the whole interval of challenger − champion on its rows is '
        "below 0; that alone makes the gate skip.</p>"
        f'<table class="slices"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></section>'
    )


def _metrics_section(challenger: dict[str, float], champion: dict[str, float] | None, gate_metric: str) -> str:
    head = "<tr><th>metric</th><th>challenger</th><th>champion</th><th>difference</th></tr>"
    rows = []
    for name, value in challenger.items():
        other = champion.get(name) if champion else None
        diff = None if other is None or math.isnan(other) or math.isnan(value) else value - other
        css = ' class="gate"' if name == gate_metric else ""
        rows.append(
            f"<tr{css}><td>{html.escape(name)}{' (gate)' if name == gate_metric else ''}</td>"
            f"<td>{fmt(value)}</td><td>{fmt(other)}</td>"
            f"<td>{'—' if diff is None else f'{diff:+.4f}'}</td></tr>"
        )
    note = "" if champion is not None else '<p class="note">No champion yet: only the challenger is scored.</p>'
    return (
        '<section id="metrics"><h2>Challenger vs champion on the same holdout</h2>'
        f'<table class="metrics"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>{note}</section>'
    )


def _drift_section(
    drift: DayDrift | None, reference: pd.DataFrame | None, current: pd.DataFrame | None
) -> tuple[str, int]:
    if drift is None:
        return (
            '<section id="drift"><h2>Drift</h2><p class="note">No drift assessment for this retrain.</p></section>',
            0,
        )
    word, css = ("DRIFTED", "drifted") if drift.drifted else ("STABLE", "stable")
    calibrated = drift.method == "calibrated"
    if calibrated:
        rule = (
            f" A feature drifts when its PSI is above the null's quantile (the PSI the reference reaches "
            f"against itself at {drift.null_rows:,} rows, level {drift.null_level:.4f}) and ≥ the floor "
            f"{drift.psi_floor:g}."
        )
        if drift.null_rows != drift.current_rows:  # one null serves every day of about this size
            rule += (
                f" The null is drawn at the current rows rounded down to two significant digits "
                f"({drift.current_rows:,} → {drift.null_rows:,}), so days of about this size share it."
            )
    else:
        thresholds = []
        if not math.isnan(drift.psi_threshold):
            thresholds.append(f"PSI ≥ {drift.psi_threshold:g}")
        if not math.isnan(drift.ks_threshold):
            thresholds.append(f"KS ≥ {drift.ks_threshold:g}")
        rule = f" A feature drifts when {' or '.join(thresholds)}." if thresholds else ""
    day_rule = "" if math.isnan(drift.min_share) else f" (the day drifts from a share of {drift.min_share:.2f})"
    summary = (
        f"<p>{len(drift.drifted_features)} of {len(drift.features)} features drifted on {html.escape(drift.ds)}: "
        f"share {drift.share:.2f}{day_rule}.{rule} "
        f"Reference: {drift.reference_rows:,} rows; current: {drift.current_rows:,} rows.</p>"
    )
    head = (
        "<tr><th>feature</th><th>kind</th><th>PSI</th><th>null quantile</th><th>floor</th><th>KS statistic</th>"
        "<th>Wasserstein (sd)</th><th>mean shift (sd)</th><th>drifted</th></tr>"
    )
    rows = []
    for f in drift.features:
        if calibrated:
            over = not math.isnan(f.psi) and f.psi > f.null_quantile and f.psi >= f.floor
            ks_over = False
        else:
            over = not math.isnan(f.psi) and f.psi >= drift.psi_threshold
            ks_over = not math.isnan(f.ks) and f.ks >= drift.ks_threshold
        psi_css = ' class="over"' if over else ""
        ks_css = ' class="over"' if ks_over else ""
        shift = "—" if math.isnan(f.mean_shift) else f"{f.mean_shift:+.3f}"
        row_css = ' class="drifted"' if f.drifted else ""
        rows.append(
            f"<tr{row_css}><td>{html.escape(f.feature)}</td><td>{f.kind}</td>"
            f"<td{psi_css}>{fmt(f.psi)}</td><td>{fmt(f.null_quantile)}</td><td>{fmt(f.floor)}</td>"
            f"<td{ks_css}>{fmt(f.ks)}</td><td>{fmt(f.wasserstein)}</td>"
            f"<td>{shift}</td><td>{'yes' if f.drifted else 'no'}</td></tr>"
        )
    table = f'<table class="drift"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'

    drifted = sorted((f for f in drift.features if f.drifted), key=lambda f: -(0 if math.isnan(f.psi) else f.psi))
    plots: list[str] = []
    notes: list[str] = []
    if drifted and (reference is None or current is None):
        notes.append("The reference and current data were not given: no histograms.")
    elif drifted:
        for stats in drifted[:MAX_DRIFT_PLOTS]:
            if stats.kind == "categorical":
                notes.append(f"{html.escape(stats.feature)} is categorical: its PSI is over its categories.")
                continue
            if stats.feature not in reference.columns or stats.feature not in current.columns:
                notes.append(f"{html.escape(stats.feature)} is missing from the data given: no histogram.")
                continue
            ref = _finite(reference[stats.feature])
            cur = _finite(current[stats.feature])
            if ref.size == 0 or cur.size == 0:
                notes.append(f"{html.escape(stats.feature)} has no finite values: no histogram.")
                continue
            plots.append(histogram_plot(stats.feature, ref, cur, stats))
        if len(drifted) > MAX_DRIFT_PLOTS:
            notes.append(f"Histograms of the {MAX_DRIFT_PLOTS} drifted features with the largest PSI are shown.")
    notes_html = "".join(f'<p class="note">{n}</p>' for n in notes)
    plots_html = f'<div class="plots">{"".join(plots)}</div>' if plots else ""
    section = (
        f'<section id="drift"><h2>Drift: <span class="badge {css}">{word}</span></h2>'
        f"{summary}{table}{notes_html}{plots_html}</section>"
    )
    return section, len(plots)


def _performance_section(performance: Sequence[Mapping[str, Any]]) -> str:
    """The realised metric of the champions on the scored days whose labels arrived (latest last)."""
    if not performance:
        return ""
    shown = list(performance)[-MAX_PERFORMANCE_ROWS:]
    rows = []
    for row in shown:
        value = row.get("value")
        cell = "undefined" if value is None else fmt(float(value))
        rows.append(
            f"<tr><td>{html.escape(str(row.get('ds')))}</td><td>{html.escape(str(row.get('version')))}</td>"
            f"<td>{html.escape(str(row.get('metric')))}</td><td>{cell}</td><td>{int(row.get('rows') or 0):,}</td></tr>"
        )
    head = "<tr><th>scored day</th><th>version</th><th>metric</th><th>realised</th><th>rows</th></tr>"
    note = "" if len(shown) == len(performance) else f" (the latest {len(shown)} of {len(performance)})"
    return (
        '<section id="performance"><h2>Realised performance</h2>'
        f'<p class="note">The champion\'s metric on the days it scored, once their labels landed{note}.</p>'
        f'<table class="performance"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></section>'
    )


def _finite(series: Any) -> np.ndarray:
    values = np.asarray(series, dtype=np.float64)
    return values[np.isfinite(values)]


# --- the report -------------------------------------------------------------------------------


def build_report(
    *,
    title: str,
    ds: str,
    metric: str,
    y_true: Any,
    challenger_proba: Any,
    champion_proba: Any | None,
    classes: Sequence[Any],
    decision: Mapping[str, Any],
    drift: DayDrift | Mapping[str, Any] | None = None,
    reference: pd.DataFrame | None = None,
    current: pd.DataFrame | None = None,
    performance: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The report as one self-contained HTML document.

    Args:
        title: The heading, e.g. "retrain-model: retrain of 2025-12-22".
        ds: The retrain's logical date.
        metric: The gate's metric (highlighted in the table).
        y_true: The holdout's labels.
        challenger_proba: The challenger's `predict_proba` on the holdout, (rows, classes); for binary
            problems a 1-D array of the positive class's probability is accepted too.
        champion_proba: The champion's, on the same holdout, or None when there is no champion.
        classes: The class labels in the probability columns' order (the model's `classes_`).
        decision: `GateDecision.to_dict()`.
        drift: The day's drift (`DayDrift` or its `to_dict()`), or None.
        reference, current: The drift's reference window and current features, for the histograms of
            the drifted features; without them the drift table is shown alone.
        performance: The champions' realised metric on scored days whose labels arrived
            (`retrain.records.status.performance_rows`: `{ds, metric, value, rows, version}`), oldest
            first; the latest `MAX_PERFORMANCE_ROWS` are shown. Empty: the section is left out.

    Returns:
        The HTML text (UTF-8), with CSS inline and every plot as inline SVG.

    Raises:
        ValueError: When the probabilities do not match `y_true` and `classes`.
    """
    classes = list(classes)
    if len(classes) < 2:
        raise ValueError(f"a report needs at least two classes, got {classes}")
    y = np.asarray(y_true)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"y_true must be a non-empty 1-D array of labels, got shape {y.shape}")
    models = {"challenger": _proba_matrix(challenger_proba, len(classes), "challenger", y.size)}
    if champion_proba is not None:
        models["champion"] = _proba_matrix(champion_proba, len(classes), "champion", y.size)
    day = DayDrift.from_dict(drift) if isinstance(drift, Mapping) else drift

    names = list(REPORT_METRICS) + ([metric] if metric not in REPORT_METRICS else [])
    scores = {who: metric_table(y, proba, classes, names) for who, proba in models.items()}

    if len(np.unique(y)) < 2:
        curves = [
            '<p class="note">The holdout holds a single class: ROC and precision-recall curves are undefined.</p>'
        ]
    else:
        curves = curve_plots(y, models, classes)
        if len(classes) > 2:
            note = (
                f"{len(classes)} classes: the curves and their legends are micro-averaged one-vs-rest; "
                "the table's roc_auc and average_precision are macro averages (the gate's)."
            )
            curves.insert(0, f'<p class="note">{note}</p>')
    confusion = [confusion_plot(y, proba, classes, who) for who, proba in models.items()]
    drift_html, _ = _drift_section(day, reference, current)

    champion_note = "" if "champion" in models else " · no champion yet"
    subtitle = (
        f"logical date {html.escape(ds)} · gate metric {html.escape(metric)} · holdout of {y.size:,} rows"
        f" · classes {html.escape(', '.join(str(c) for c in classes))}{champion_note}"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{html.escape(title)}</h1><p>{subtitle}</p></header><main>",
        '<div class="row">',
        _decision_section(decision, metric),
        _metrics_section(scores["challenger"], scores.get("champion"), metric),
        "</div>",
        _slices_section(decision, metric),
        '<section id="curves"><h2>ROC and precision-recall curves</h2>'
        f'<div class="plots">{"".join(curves)}</div></section>',
        f'<section id="confusion"><h2>Confusion matrices</h2><div class="plots">{"".join(confusion)}</div></section>',
        drift_html,
        _performance_section(performance),
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(path: Path | str, html_text: str) -> Path:
    """Write the report atomically (`reports/{ds}/report.html`): a reader never sees half a file."""
    from retrain.io import write_text

    return write_text(Path(path), html_text)
