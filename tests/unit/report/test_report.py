"""The retrain report: one offline HTML file with the metric table, the plots, the decision and the drift."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retrain.drift import DriftPolicy, assess_day
from retrain.model.gate import decide
from retrain.report.html import REPORT_METRICS, build_report, metric_table, write_report

THRESHOLDS = DriftPolicy(method="fixed", psi_threshold=0.2, ks_threshold=0.1, min_share=0.2)
SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)
NETWORK_LOAD = re.compile(r"""\b(?:src|href|srcset|action|data)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def _holdout(rows: int = 800, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, and the probabilities of a good challenger and a weaker champion (binary, classes 0/1)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=rows)
    good = 1 / (1 + np.exp(-(2.0 * (y - 0.5) * 2 + rng.normal(size=rows))))
    weak = 1 / (1 + np.exp(-(0.6 * (y - 0.5) * 2 + rng.normal(size=rows))))
    return y, np.column_stack([1 - good, good]), np.column_stack([1 - weak, weak])


def _drift(shifted: tuple[str, ...] = ("f01", "f03")) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(1)
    columns = [f"f{i:02d}" for i in range(6)]
    reference = pd.DataFrame(rng.normal(size=(5_000, 6)), columns=columns)
    current = pd.DataFrame(rng.normal(size=(1_000, 6)), columns=columns)
    for name in shifted:
        current[name] += 1.0
    return reference, current


def _report(**overrides: Any) -> str:
    y, challenger, champion = _holdout()
    reference, current = _drift()
    decision = decide(0.93, 0.71, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    arguments = {
        "title": "retrain-model: retrain of 2025-12-22",
        "ds": "2025-12-22",
        "metric": "roc_auc",
        "y_true": y,
        "challenger_proba": challenger,
        "champion_proba": champion,
        "classes": [0, 1],
        "decision": decision.to_dict(),
        "drift": assess_day("2025-12-22", reference, current, THRESHOLDS),
        "reference": reference,
        "current": current,
    }
    arguments.update(overrides)
    return build_report(**arguments)


@pytest.fixture(scope="module")
def report() -> str:
    return _report()


def test_the_metric_table_compares_both_models(report: str) -> None:
    table = re.search(r'<table class="metrics">.*?</table>', report, re.DOTALL)
    assert table is not None
    for name in REPORT_METRICS:
        assert f"<td>{name}" in table.group(0)
    y, challenger, champion = _holdout()
    ours, theirs = metric_table(y, challenger, [0, 1]), metric_table(y, champion, [0, 1])
    assert ours["roc_auc"] > theirs["roc_auc"]
    assert f"{ours['roc_auc']:.4f}" in table.group(0)
    assert f"{theirs['roc_auc']:.4f}" in table.group(0)
    assert f"{ours['roc_auc'] - theirs['roc_auc']:+.4f}" in table.group(0)
    assert 'class="gate"' in table.group(0)  # the gate's metric is highlighted


def test_plots_are_inline_svg_one_per_drifted_feature(report: str) -> None:
    svgs = SVG.findall(report)
    # ROC, precision-recall, two confusion matrices, and one histogram per drifted feature (f01, f03)
    assert len(svgs) == 4 + 2
    labels = [re.search(r'aria-label="([^"]+)"', s).group(1) for s in svgs]
    assert labels == ["roc-curve", "pr-curve", "confusion-challenger", "confusion-champion", *labels[4:]]
    assert sorted(labels[4:]) == ["drift-f01", "drift-f03"]
    assert "ROC: both models on the same holdout" in report
    for svg in svgs:
        ET.fromstring(svg)  # each plot is well-formed XML after the id rewriting


def test_ids_are_unique_across_the_page(report: str) -> None:
    ids = re.findall(r'\bid="([^"]+)"', report)
    duplicates = [name for name, count in Counter(ids).items() if count > 1]
    assert duplicates == []
    # every internal reference points at an id of the page
    refs = set(re.findall(r'href="#([^"]+)"', report)) | set(re.findall(r"url\(#([^)]+)\)", report))
    assert refs <= set(ids)


def test_the_decision_and_its_reasons_are_shown(report: str) -> None:
    decision = decide(0.93, 0.71, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    assert 'class="badge deploy">DEPLOY<' in report
    for reason in decision.reasons:
        assert f"<li>{reason}</li>" in report


def test_the_drift_table_lists_every_feature_and_highlights_the_drifted(report: str) -> None:
    table = re.search(r'<table class="drift">.*?</table>', report, re.DOTALL).group(0)
    rows = re.findall(r"<tr( class=\"drifted\")?><td>(f\d\d)</td>", table)
    assert [name for _, name in rows] == [f"f{i:02d}" for i in range(6)]
    assert sorted(name for css, name in rows if css) == ["f01", "f03"]
    assert 'class="badge drifted">DRIFTED<' in report


def test_nothing_is_loaded_from_the_network(report: str) -> None:
    assert NETWORK_LOAD.search(report) is None
    assert "<script" not in report
    assert "<link" not in report
    assert "@import" not in report
    assert re.search(r"url\(\s*['\"]?https?:", report) is None
    assert "Content-Security-Policy" in report


def test_the_intervals_are_shown() -> None:
    import dataclasses

    point = decide(0.93, 0.71, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    decision = dataclasses.replace(
        point,
        method="bootstrap",
        confidence=0.95,
        ci_low=0.18,
        ci_high=0.26,
        challenger_ci_low=0.91,
        challenger_ci_high=0.95,
    )
    html = _report(decision=decision.to_dict())
    assert "<td>challenger − champion, 95% interval</td><td>[0.1800, 0.2600]</td>" in html
    assert "<td>challenger score, 95% interval</td><td>[0.9100, 0.9500]</td>" in html


def test_without_a_champion() -> None:
    decision = decide(0.93, None, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    html = _report(champion_proba=None, decision=decision.to_dict())
    assert len(SVG.findall(html)) == 3 + 2  # ROC, PR, one confusion matrix, two histograms
    assert "No champion yet" in html
    assert "<li>no champion yet</li>" in html
    assert "confusion-champion" not in html
    assert "both models" not in html  # the curves' captions name the one model they show
    assert "ROC: the challenger on the holdout" in html


def test_drift_given_as_a_dict_or_not_at_all(report: str) -> None:
    reference, current = _drift()
    day = assess_day("2025-12-22", reference, current, THRESHOLDS)
    assert _report(drift=day.to_dict()) == report  # as read back from the ledger or an XCom
    without = _report(drift=None, reference=None, current=None)
    assert "No drift assessment" in without
    assert len(SVG.findall(without)) == 4
    no_data = _report(reference=None, current=None)
    assert "no histograms" in no_data
    assert len(SVG.findall(no_data)) == 4


def test_the_report_is_deterministic(report: str) -> None:
    assert _report() == report


def test_binary_probability_of_the_positive_class_is_enough(report: str) -> None:
    y, challenger, champion = _holdout()
    assert _report(challenger_proba=challenger[:, 1], champion_proba=champion[:, 1]) == report


def test_multiclass_does_not_crash() -> None:
    rng = np.random.default_rng(2)
    y = np.array(["cat", "dog", "eel"])[rng.integers(0, 3, size=600)]
    logits = rng.normal(size=(600, 3)) + 2.0 * (y[:, None] == np.array(["cat", "dog", "eel"]))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    decision = decide(0.9, None, threshold=0.8, min_improvement=0.0, metric="f1")
    html = _report(
        y_true=y,
        challenger_proba=proba,
        champion_proba=proba[:, ::-1],
        classes=["cat", "dog", "eel"],
        metric="f1",
        decision=decision.to_dict(),
        drift=None,
    )
    assert "micro-averaged one-vs-rest" in html
    assert len(SVG.findall(html)) == 4
    assert "f1 (gate)" in html
    # the legends say which average they show, and the note says the table's is the macro average
    assert "micro-average AUC" in html and "micro-average AP" in html
    assert "roc_auc and average_precision are macro averages" in html
    from sklearn.metrics import roc_auc_score

    macro = roc_auc_score(y, proba, multi_class="ovr", average="macro")
    assert f"<td>roc_auc</td><td>{macro:.4f}</td>" in html  # the table's number is the macro AUC


def test_a_single_class_holdout_skips_the_curves() -> None:
    y, challenger, champion = _holdout()
    html = _report(y_true=np.ones_like(y))
    assert "curves are undefined" in html
    assert len(SVG.findall(html)) == 2 + 2  # the confusion matrices and the histograms
    assert "roc_auc (gate)</td><td>—</td>" in html


def test_a_metric_outside_the_table_is_added() -> None:
    html = _report(metric="balanced_accuracy")
    assert "balanced_accuracy (gate)" in html


def test_mismatched_probabilities_are_refused() -> None:
    y, challenger, _ = _holdout()
    with pytest.raises(ValueError, match="rows but y_true has"):
        _report(challenger_proba=challenger[:10])
    with pytest.raises(ValueError, match="expected"):
        _report(challenger_proba=np.column_stack([challenger, challenger]))
    with pytest.raises(ValueError, match="two classes"):
        _report(classes=[1])


def test_metrics_match_retrain_evaluate() -> None:
    # the report's numbers must be the gate's numbers
    from sklearn.linear_model import LogisticRegression

    from retrain.model import evaluate

    rng = np.random.default_rng(5)
    X = pd.DataFrame(rng.normal(size=(500, 4)), columns=list("abcd"))
    y = (X["a"] + rng.normal(size=500) > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    expected = evaluate.all_metrics(model, X, y)
    ours = metric_table(y, model.predict_proba(X), model.classes_)
    assert ours == pytest.approx({name: expected[name] for name in REPORT_METRICS})


def test_write_report_is_atomic(tmp_path: Path, report: str) -> None:
    path = tmp_path / "reports" / "2025-12-22" / "report.html"
    assert write_report(path, report) == path
    assert path.read_text(encoding="utf-8") == report
    write_report(path, report)  # a rerun replaces the file, leaving no temporary file behind
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


LONG_REASON = (
    "gain interval includes 0 (not surely better): challenger roc_auc 0.9123 vs champion 0.9012 on the same "
    "7,000-row holdout, so the champion stays; slice plan=team lost 0.0421 against the champion"
)


def _words_in_order(words: list[str], text: str) -> bool:
    """Each word whole (a token of `text` once the table's borders are gone) and in order."""
    tokens = iter(text.replace("│", " ").replace("┃", " ").split())
    return all(any(token == word for token in tokens) for word in words)


@pytest.mark.parametrize("width", [80, 100, 120, 200])
@pytest.mark.parametrize("asked", [False, True], ids=["automatic", "approval"])
def test_status_table_keeps_every_column_and_whole_reasons_at_any_width(width: int, asked: bool) -> None:
    from rich.console import Console

    from retrain.report.console import _COLUMNS, print_status

    # given: two decisions, one with a long reason (and, when asked, a person's approval)
    row = {
        "ds": "2025-12-20",
        "trigger": "performance",
        "challenger_score": 0.91234,
        "champion_score": 0.90123,
        "ci_low": -0.0031,
        "ci_high": 0.0152,
        "threshold": 0.8,
        "decision": "rollback",
        "version": "12",
        "reasons": [LONG_REASON],
        "approval": {"outcome": "approved", "by": "alice", "at": "t"} if asked else None,
    }
    first = {**row, "ds": "2025-12-13", "decision": "deploy", "reasons": ["no champion yet"], "approval": None}
    # when: `retrain status` prints at `width` columns
    console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    print_status(console, {"model_name": "m", "champion": None, "history": [first, row]})
    text = console.export_text()

    # then: no line is wider than the terminal, every column is there (its header whole, or broken in two)
    assert max(len(line) for line in text.splitlines()) <= width
    flat = " ".join(text.split())
    for name, short in _COLUMNS if asked else _COLUMNS[:-1]:
        assert name in flat or all(part in flat for part in short.split("\n")), name
    assert "reasons" in flat
    for value in ("2025-12-20", "performance", "rollback", "0.9123", "0.9012", "[-0.0031,", "+0.0152]", "12"):
        assert value in flat
    assert ("alice: approved" in flat) is asked
    # and: the long reason is whole, wrapped on word boundaries
    assert _words_in_order(LONG_REASON.split(), text), text


def test_status_at_200_columns_is_one_row_per_decision() -> None:
    from rich.console import Console

    from retrain.report.console import print_status

    row = {"ds": "2025-12-20", "trigger": "schedule", "challenger_score": 0.9, "champion_score": 0.8,
           "threshold": 0.8, "decision": "deploy", "version": "3", "reasons": [LONG_REASON]}  # fmt: skip
    console = Console(width=200, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    print_status(console, {"model_name": "m", "champion": None, "history": [row]})
    lines = console.export_text().splitlines()
    header = next(line for line in lines if "challenger" in line)
    assert all(name in header for name in ("date", "trigger", "champion", "gain interval", "threshold", "reasons"))
    assert sum("2025-12-20" in line for line in lines) == 1


@pytest.mark.parametrize("width", [80, 120])
def test_notifications_table_wraps_the_message_and_keeps_every_channel(width: int) -> None:
    from rich.console import Console

    from retrain.report.console import notifications_table

    message = "retrain-model: drift sustained 3 days on 2025-12-20 (x_3 PSI 0.41, x_7 PSI 0.33); a retrain [ran]"
    sent = [{"time": "2025-12-20T10:00:00.123", "text": message,
             "channels": [{"channel": "telegram", "ok": True}, {"channel": "email", "ok": False}]}]  # fmt: skip
    console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(notifications_table(sent))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= width
    for word in ("when", "channels", "message", "2025-12-20T10:00:00", "telegram:ok", "email:FAILED"):
        assert word in text
    assert _words_in_order(message.split(), text), text  # whole, its markup-like text shown as written


def test_calibrated_drift_shows_the_null_and_the_floor_and_the_slice_table() -> None:
    # given a calibrated drift (a text feature among the numbers) and a decision with a slice table
    reference, current = _drift()
    reference["plan"] = np.where(np.arange(len(reference)) % 3 == 0, "pro", "free").astype(object)
    current["plan"] = np.array(["team"] * len(current), dtype=object)
    day = assess_day("2025-12-22", reference, current, DriftPolicy())
    decision = decide(0.93, 0.71, threshold=0.8, min_improvement=0.0, metric="roc_auc").to_dict()
    decision["slices"] = [
        {
            "column": "plan",
            "value": "b",
            "rows": 600,
            "challenger": 0.56,
            "champion": 0.77,
            "ci_low": -0.27,
            "ci_high": -0.15,
            "verdict": "worse",
            "note": "",
        },
        {
            "column": "plan",
            "value": "c",
            "rows": 12,
            "challenger": 0.9,
            "champion": 0.8,
            "ci_low": None,
            "ci_high": None,
            "verdict": "too small",
            "note": "too small to decide: 12 rows",
        },
    ]
    html = _report(drift=day, decision=decision, reference=reference, current=current)
    # then the drift table shows, per feature, its kind, PSI, the null's quantile and the floor
    table = re.search(r'<table class="drift">.*?</table>', html, re.DOTALL).group(0)
    assert "<th>null quantile</th><th>floor</th>" in table
    plan = next(f for f in day.features if f.feature == "plan")
    assert plan.kind == "categorical" and plan.drifted
    assert f'<td>categorical</td><td class="over">{plan.psi:.4f}</td><td>{plan.null_quantile:.4f}</td>' in table
    assert table.count("<td>0.1000</td>") == len(day.features)
    assert f"at {day.null_rows:,} rows" in html and "floor 0.1" in html
    assert "rounded down" not in html  # 1,000 current rows: the null was drawn at exactly that size
    assert "plan is categorical" in html  # no histogram of a category
    # and the slice table is there, the worse slice highlighted
    slices = re.search(r'<table class="slices">.*?</table>', html, re.DOTALL).group(0)
    assert '<tr class="drifted"><td>plan = b</td><td>600</td>' in slices
    assert "[-0.2700, -0.1500]" in slices and "too small to decide: 12 rows" in slices


def test_the_realised_performance_is_shown_when_labels_arrived(report: str) -> None:
    rows = [
        {"ds": "2025-12-08", "metric": "roc_auc", "value": 0.8834, "rows": 2000, "version": "1"},
        {"ds": "2025-12-09", "metric": "roc_auc", "value": None, "rows": 40, "version": "2"},
    ]
    shown = _report(performance=rows)
    section = shown.split('<section id="performance">', 1)[1].split("</section>", 1)[0]
    assert "2025-12-08" in section and "0.8834" in section and "2,000" in section
    assert "2025-12-09" in section and "undefined" in section
    assert 'id="performance"' not in report  # no labels yet: no section


def test_a_null_drawn_at_fewer_rows_than_the_day_says_why() -> None:
    # given a calibrated drift on a day of 1,234 rows (its null is drawn at 1,200, shared by days of that size)
    reference, current = _drift()
    current = pd.concat([current, current.iloc[:234]], ignore_index=True)
    day = assess_day("2025-12-22", reference, current, DriftPolicy())
    # when the report is built
    html = _report(drift=day, reference=reference, current=current)
    # then the two row counts are explained, not only quoted side by side
    assert day.null_rows == 1_200 and "current: 1,234 rows" in html
    assert "rounded down to two significant digits (1,234 → 1,200)" in html
