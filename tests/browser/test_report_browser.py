"""The report opens in a real headless Chromium (Debian's `chromium` package) offline and without errors.

A screenshot is kept as a test artifact in `test-artifacts/report.png` (git-ignored) for a person to look
at. Chromium runs with networking features off and its own throwaway profile; the page's own
Content-Security-Policy would report any attempt to load a resource as a console message, which fails
the test, as would a script error.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain.drift import DriftPolicy, assess_day
from retrain.model.gate import decide
from retrain.report.html import build_report, metric_table, write_report
from tests.helpers.chromium import CHROMIUM, headless_flags

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless Chromium is missing: install Debian's package (apt-get install -y chromium) to run this test",
)


def _chromium(user_data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(CHROMIUM),
        *headless_flags(user_data),
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _console(stderr: str) -> list[str]:
    """Console messages of the page (script errors, blocked loads): Chromium logs them as `:CONSOLE`."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # given a report with a champion, a deploy decision and two drifted features
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=3_000)
    good = 1 / (1 + np.exp(-(2.5 * (y - 0.5) + rng.normal(size=y.size))))
    weak = 1 / (1 + np.exp(-(0.9 * (y - 0.5) + rng.normal(size=y.size))))
    columns = [f"f{i:02d}" for i in range(10)]
    reference = pd.DataFrame(rng.normal(size=(28_000, 10)), columns=columns)
    current = pd.DataFrame(rng.normal(size=(2_000, 10)), columns=columns)
    current[["f02", "f07"]] += 1.0
    thresholds = DriftPolicy(method="fixed", psi_threshold=0.2, ks_threshold=0.1, min_share=0.2)
    challenger = np.column_stack([1 - good, good])
    champion = np.column_stack([1 - weak, weak])
    scores = [metric_table(y, proba, [0, 1], ["roc_auc"])["roc_auc"] for proba in (challenger, champion)]
    decision = decide(*scores, threshold=0.8, min_improvement=0.0, metric="roc_auc")
    html = build_report(
        title="retrain-model: retrain of 2025-12-22",
        ds="2025-12-22",
        metric="roc_auc",
        y_true=y,
        challenger_proba=challenger,
        champion_proba=champion,
        classes=[0, 1],
        decision=decision.to_dict(),
        drift=assess_day("2025-12-22", reference, current, thresholds),
        reference=reference,
        current=current,
    )
    return write_report(tmp_path_factory.mktemp("report") / "report.html", html)


def test_report_renders_in_headless_chromium(report_file: Path, tmp_path: Path) -> None:
    # when Chromium takes a screenshot of the file
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "report.png"
    screenshot.unlink(missing_ok=True)
    result = _chromium(
        tmp_path / "profile", f"--screenshot={screenshot}", "--window-size=1280,2000", report_file.as_uri()
    )
    # then it succeeds, without console errors, and the picture is not blank
    assert result.returncode == 0, result.stderr[-2000:]
    assert _console(result.stderr) == []
    assert screenshot.is_file(), result.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 10_000

    from PIL import Image

    with Image.open(screenshot) as image:
        assert image.size == (1280, 2000)
        colours = image.convert("RGB").resize((320, 500)).getcolors(maxcolors=1_000_000)
    assert len(colours) > 200  # text, tables and plots, not a blank or error page


def test_report_dom_has_the_plots(report_file: Path, tmp_path: Path) -> None:
    # when Chromium loads the file and prints the DOM it built
    result = _chromium(tmp_path / "profile", "--dump-dom", report_file.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    assert _console(result.stderr) == []
    dom = result.stdout
    # then the browser parsed every section and every plot
    for section in ("decision", "metrics", "curves", "confusion", "drift"):
        assert f'<section id="{section}">' in dom
    labels = re.findall(r'<svg[^>]*aria-label="([^"]+)"', dom)
    assert labels[:4] == ["roc-curve", "pr-curve", "confusion-challenger", "confusion-champion"]
    assert sorted(labels[4:]) == ["drift-f02", "drift-f07"]
    assert "retrain-model: retrain of 2025-12-22" in dom


def test_console_errors_would_be_caught(tmp_path: Path) -> None:
    # a control: a page that loads from the network and throws must be reported by the same check
    page = tmp_path / "bad.html"
    page.write_text(
        '<html><head><meta http-equiv="Content-Security-Policy" content="default-src \'none\'"></head>'
        '<body><img src="https://example.invalid/x.png"><script>undefinedFunction()</script></body></html>',
        encoding="utf-8",
    )
    result = _chromium(tmp_path / "profile", "--dump-dom", page.as_uri())
    assert _console(result.stderr), "Chromium did not log the blocked load: the console check would miss errors"
