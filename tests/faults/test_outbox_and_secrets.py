"""Torn JSONL lines, a broken outbox, output file modes under a umask, URL passwords, and a 4,500-character label.

Issue 13 items 5, 4, 3 and 11, each injected for real: real `retrain` DAG runs (`dag.test()`), the local
Bot API stand-in (and an apprise `json://` URL to the same server), the `retrain` command as a
subprocess, an MLflow tracking URI that points at a closed port.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

from retrain.io import read_jsonl
from retrain.layout import Layout
from retrain.records import ledger
from retrain.registry import Registry
from retrain.settings import load_settings
from tests.conftest import REPO
from tests.helpers.telegram_server import TelegramServer, telegram_server  # noqa: F401
from tests.integration.conftest import days
from tests.integration.conftest import runner as runner  # noqa: F401  (the fixture, for this folder)

pytestmark = pytest.mark.integration

WEEK = days("2025-12-01", 7)
DEPLOY_DAY = WEEK[-1]
TOKEN = "424242:OUTBOX-fault-token-Xy7"


@pytest.fixture
def tg_env(monkeypatch: pytest.MonkeyPatch, telegram_server: TelegramServer) -> TelegramServer:  # noqa: F811
    monkeypatch.setenv("TG_TOKEN", TOKEN)
    monkeypatch.setenv("TG_CHAT", "7")
    monkeypatch.setenv("TG_API_URL", telegram_server.url)
    monkeypatch.setenv("RETRAIN_NOTIFY_RETRIES", "1")
    monkeypatch.setenv("RETRAIN_NOTIFY_TIMEOUT", "2")
    monkeypatch.setenv("RETRAIN_ESTIMATOR_PARAMS", '{"max_iter": 30}')
    return telegram_server


def land(week: list[str]) -> None:
    """Land the days directly (no MLflow involved), as `generate_data` would."""
    from retrain.data.generate import generate_and_write

    settings = load_settings()
    for ds in week:
        generate_and_write(settings, Layout(settings.data_dir), ds)


def deploy_messages(server: TelegramServer) -> list[str]:
    return [
        r.json["text"]
        for r in server.requests
        if r.api_method == "sendMessage" and isinstance(r.json, dict) and "deploy_status=success" in r.json["text"]
    ]


# --- item 5: torn JSONL lines, a broken outbox ------------------------------------------------------


def test_torn_lines_in_the_outbox_and_the_ledger_block_nothing(runner, tg_env: TelegramServer, caplog) -> None:  # type: ignore[no-untyped-def]
    # given: a week of data, and a crash left a torn last line in the outbox and one in the ledger
    land(WEEK)
    settings = load_settings()
    settings.outbox_path.parent.mkdir(parents=True, exist_ok=True)
    settings.outbox_path.write_bytes(b'{"time": "2025-12-06T00:00:00+00:00", "text": "an earlier mess')
    settings.ledger_path.write_bytes(b'{"seq": 1, "ts": "2025-12-06", "decision": "depl')

    # when: the first retrain deploys, then the same date is run again
    first = runner.run("retrain", DEPLOY_DAY)
    again = runner.run("retrain", DEPLOY_DAY)

    # then: the deploy stands, its message went out once, and both files kept the torn line on its own
    assert first.ok and first.tasks["notify_success"] == "success", first.tasks
    assert again.ok, again.tasks
    assert Registry.from_settings(settings).champion().version == "1"
    assert len(deploy_messages(tg_env)) == 1
    outbox_lines = settings.outbox_path.read_text().splitlines()
    assert outbox_lines[0] == '{"time": "2025-12-06T00:00:00+00:00", "text": "an earlier mess'
    (record,) = read_jsonl(settings.outbox_path)
    assert record["text"] == deploy_messages(tg_env)[0]
    assert [c["ok"] for c in record["channels"]] == [True]
    ledger_lines = settings.ledger_path.read_text().splitlines()
    assert ledger_lines[0] == '{"seq": 1, "ts": "2025-12-06", "decision": "depl'
    assert [e["decision"] for e in ledger.read(settings.ledger_path)] == ["deploy"]
    assert f"{settings.outbox_path} line 1 is not valid JSON" in caplog.text
    assert f"{settings.ledger_path} line 1 is not valid JSON" in caplog.text


def test_an_unwritable_outbox_never_fails_the_deploy_or_its_message(runner, tg_env: TelegramServer) -> None:  # type: ignore[no-untyped-def]
    # given: the outbox path is taken by a folder (unreadable and unwritable as a file)
    land(WEEK)
    settings = load_settings()
    settings.outbox_path.mkdir(parents=True)

    # when
    result = runner.run("retrain", DEPLOY_DAY)

    # then: deployed, notified, and only the record is missing
    assert result.ok and result.tasks["notify_success"] == "success", result.tasks
    assert Registry.from_settings(settings).champion().version == "1"
    assert len(deploy_messages(tg_env)) == 1
    assert settings.outbox_path.is_dir()


# --- item 11: a long label ---------------------------------------------------------------------------


def test_a_4500_character_label_keeps_the_point_of_the_deploy_message(  # type: ignore[no-untyped-def]
    runner, tg_env: TelegramServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a label of 4,500 characters, Telegram (4,096 characters at most) and an apprise json URL
    label = "release-notes-" + "x" * 4486
    monkeypatch.setenv("RETRAIN_MODEL_VERSION", label)
    monkeypatch.setenv("RETRAIN_NOTIFY_URLS", f"json://127.0.0.1:{tg_env.port}/")
    land(WEEK)

    # when
    assert runner.run("retrain", DEPLOY_DAY).ok

    # then: Telegram got at most 4,096 characters, with the metric, the threshold and the status
    settings = load_settings()
    (telegram,) = deploy_messages(tg_env)
    assert len(telegram) <= 4096
    first, metric, previous, status = telegram.split("\n")
    assert first.startswith(f"{settings.model_name} version 1 (label release-notes-xxx")
    assert first.endswith(f"…) deployed for {DEPLOY_DAY}")
    assert metric.startswith(f"{settings.metric}=") and f"threshold={settings.metric_threshold:.4f}" in metric
    assert previous == "previous champion: none"
    assert status == "deploy_status=success"
    # apprise's json plugin takes 32,768 characters: it got the whole label
    (apprise,) = [r.json["message"] for r in tg_env.requests if r.api_method is None and isinstance(r.json, dict)]
    assert label in apprise and apprise.endswith("deploy_status=success")
    # the outbox records what each channel was given, not the full text as if it had been sent
    (record,) = read_jsonl(settings.outbox_path)
    assert record["text"] == telegram
    telegram_channel, apprise_channel = record["channels"]
    assert (telegram_channel["channel"], "text" in telegram_channel) == ("telegram", False)
    assert apprise_channel["text"] == apprise


# --- item 4: file modes under the umask --------------------------------------------------------------


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*") if p.is_file()}


def test_outputs_get_the_mode_a_plain_open_would_give(runner) -> None:  # type: ignore[no-untyped-def]
    # given/when: days landed, a retrain and a scoring run under umask 022 ...
    settings = load_settings()
    layout = Layout(settings.data_dir)
    with umask(0o022):
        assert runner.run("generate_data", WEEK[0]).ok
        land(WEEK[1:])
        assert runner.run("retrain", DEPLOY_DAY).ok
        assert runner.run("batch_predict", DEPLOY_DAY).ok
        before = modes(settings.data_dir)
    # ... then a day landed and scored under umask 077
    late = days(DEPLOY_DAY, 2)[1]
    with umask(0o077):
        assert runner.run("generate_data", late).ok
        assert runner.run("batch_predict", late).ok

    # then: every file is 0644 under 022 (readable by a BI job) and 0600 under 077
    assert before and set(before.values()) == {0o644}, before
    written_late = {k: v for k, v in modes(settings.data_dir).items() if k not in before}
    assert any(late in k for k in written_late) and set(written_late.values()) == {0o600}, written_late
    for path in (layout.predictions_file(DEPLOY_DAY), layout.predictions(DEPLOY_DAY) / "_meta.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert stat.S_IMODE(layout.predictions_file(late).stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.ledger_path.stat().st_mode) == 0o644


# --- item 3: passwords in URL settings -----------------------------------------------------------------

TG_PASSWORD = "Tg-Url-pa55-Qz8"
MLFLOW_PASSWORD = "Mlflow-pa55-Rw4"
APPRISE_PASSWORD = "Apprise-pa55-Vn6"


def forms(*secrets: str) -> set[str]:
    return {form for s in secrets for form in (s, quote(s, safe=""))}


def leaks_in(text: str, *roots: Path, secrets: set[str]) -> list[str]:
    found = [f"output: {s!r}" for s in secrets if s in text]
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                found += [f"{path}: {s!r}" for s in secrets if s.encode() in content]
    return found


def cli(*args: str, env: dict[str, str], python: str | None = None) -> subprocess.CompletedProcess[str]:
    """`retrain ARGS` in a fresh process (what an operator sees), or `python -c PYTHON ARGS`."""
    command = (
        [sys.executable, "-c", python, *args] if python else [str(Path(sys.executable).with_name("retrain")), *args]
    )
    return subprocess.run(
        command, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=240, check=False
    )


@pytest.fixture
def url_env(retrain_env: dict[str, str], telegram_server: TelegramServer, monkeypatch) -> dict[str, str]:  # type: ignore[no-untyped-def]  # noqa: F811
    host = telegram_server.url.split("://", 1)[1]
    extra = {
        "TG_TOKEN": TOKEN,
        "TG_CHAT": "7",
        "TG_API_URL": f"http://alerts:{TG_PASSWORD}@{host}",
        "RETRAIN_NOTIFY_URLS": f"json://hook:{APPRISE_PASSWORD}@127.0.0.1:{telegram_server.port}/",
        "MLFLOW_TRACKING_URI": f"http://mlflow:{MLFLOW_PASSWORD}@127.0.0.1:1/",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",  # MLflow's own retries of a closed port take minutes
        "RETRAIN_NOTIFY_RETRIES": "0",
    }
    for key, value in extra.items():
        monkeypatch.setenv(key, value)
    return {k: v for k, v in os.environ.items()}


def test_retrain_settings_masks_every_url_setting(url_env: dict[str, str]) -> None:
    done = cli("settings", env=url_env)

    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["telegram_api_url"].startswith("http://alerts:***@127.0.0.1:")
    assert shown["mlflow_tracking_uri_override"] == "http://mlflow:***@127.0.0.1:1/"
    assert shown["notify_urls"] == ["**********"]
    assert not leaks_in(done.stdout + done.stderr, secrets=forms(TG_PASSWORD, MLFLOW_PASSWORD, APPRISE_PASSWORD))


@pytest.mark.parametrize("store", ["http", "postgresql"])
def test_retrain_status_with_an_unreachable_store_prints_one_redacted_line(url_env: dict[str, str], store: str) -> None:
    # given: the tracking URI (with its password) points at a closed port
    env = dict(url_env)
    python = None
    if store == "postgresql":
        env["MLFLOW_TRACKING_URI"] = f"postgresql+psycopg2://mlflow:{MLFLOW_PASSWORD}@127.0.0.1:1/mlflow"
        # MLflow retries a database connection 10 times with backoff (~100 s): once is the same fault
        python = "import sys, mlflow.store.db.utils as u; u.MAX_RETRY_COUNT = 1; from retrain.cli import app; app()"

    # when
    done = cli("status", env=env, python=python)

    # then: exit 1, one `error:` line, a redacted traceback in the home's logs, the password nowhere
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "cli-error.log" in error
    home = Path(env["RETRAIN_HOME"])
    assert "Traceback" in (home / "logs" / "cli-error.log").read_text()
    leaks = leaks_in(done.stdout + done.stderr, home, secrets=forms(TG_PASSWORD, MLFLOW_PASSWORD, APPRISE_PASSWORD))
    assert not leaks, "\n".join(leaks)


def test_a_failing_task_leaks_no_url_password(  # type: ignore[no-untyped-def]
    runner,
    url_env: dict[str, str],
    telegram_server: TelegramServer,  # noqa: F811
    airflow_home: Path,
    capfd,
) -> None:
    # given: landed days; MLflow's URI (with its password) points at a closed port
    land(WEEK)

    # when: the retrain DAG runs: its first MLflow call fails with "API request to http://mlflow:...@" in
    # the exception, and the failure alert goes to Telegram through an API URL with a password
    result = runner.run("retrain", DEPLOY_DAY)
    captured = capfd.readouterr()

    # then: the task failed and alerted, and the passwords are in no output, log or file
    assert not result.ok and result.failed_tasks(), result.tasks
    alerts = [r.json["text"] for r in telegram_server.requests if r.api_method == "sendMessage"]
    assert alerts and alerts[0].startswith("FAILED: dag=retrain task=prepare_data")
    assert "http://mlflow:***@127.0.0.1:1/" in alerts[0]
    assert "mlflow:***@" in captured.out + captured.err  # the traceback was printed, masked
    secrets = forms(TG_PASSWORD, MLFLOW_PASSWORD, APPRISE_PASSWORD)
    leaks = leaks_in(captured.out + captured.err, Path(url_env["RETRAIN_HOME"]), airflow_home / "logs", secrets=secrets)
    assert not leaks, "\n".join(leaks)
