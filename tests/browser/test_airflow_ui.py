"""`retrain up` for real, seen in a browser: headless Chromium (Debian's `chromium` and `chromium-driver`)
logs in to the Airflow UI with the generated password, lists this project's DAGs and opens the
`retrain` DAG's grid, where a run triggered through the REST API shows (its sensor gave up: there is no
data in this fresh home). A screenshot is kept in `test-artifacts/airflow-ui.png` (git-ignored) for a person
to look at. Then `retrain up` gets SIGTERM: it must exit 0 and leave no process behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from retrain.ops.environment import clean_environ
from retrain.ops.supervisor import free_port
from tests.helpers.chromium import CHROMEDRIVER, CHROMIUM, headless_flags

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
PROJECT_DAGS = ("generate_data", "retrain", "batch_predict", "monitor_drift")
RETRAIN_TASKS = ("wait_for_data", "train_model", "decide_deploy", "deploy_model")
STARTUP = 300.0

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="headless Chromium or its driver is missing: apt-get install -y chromium chromium-driver",
    ),
]


@dataclass
class Up:
    process: subprocess.Popen[bytes]
    output: Path
    home: Path
    airflow_url: str
    user: str
    password: str

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")


def _descendants(pid: int) -> list:  # type: ignore[type-arg]
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(processes: list) -> list[str]:  # type: ignore[type-arg]
    import psutil

    alive = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{proc.pid} {' '.join(proc.cmdline())[:100]}")
        except psutil.NoSuchProcess:
            continue
    return alive


def _processes_using(path: Path) -> list[str]:
    import psutil

    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("RETRAIN_HOME", "").startswith(str(path)):
                found.append(f"{proc.pid} {' '.join(proc.cmdline())[:100]}")
        except (psutil.Error, OSError):
            continue
    return found


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """`python -m retrain.ops.up` (what `retrain up` runs) in a fresh RETRAIN_HOME with free ports."""
    root = tmp_path_factory.mktemp("up")
    home = root / "home"
    airflow_port, mlflow_port = free_port(), free_port()
    env = clean_environ()  # no AIRFLOW_HOME: `retrain up` uses $RETRAIN_HOME/airflow
    env.update(
        RETRAIN_HOME=str(home),
        RETRAIN_AIRFLOW_PORT=str(airflow_port),
        RETRAIN_MLFLOW_PORT=str(mlflow_port),
        RETRAIN_TASK_RETRIES="0",
        RETRAIN_WAIT_TIMEOUT="3",
        RETRAIN_WAIT_POKE_INTERVAL="1",
    )
    output = root / "up.out"
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "retrain.ops.up"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP
        text = ""
        while "Press Ctrl-C" not in text:
            text = output.read_text(encoding="utf-8", errors="replace")
            assert process.poll() is None, f"retrain up exited with {process.returncode}:\n{text}"
            assert time.monotonic() < deadline, f"retrain up not ready after {STARTUP:.0f}s:\n{text}"
            time.sleep(1)
        login = re.search(r"user (\S+)\s+password (\S+)", text)
        assert login, f"retrain up did not print how to log in:\n{text}"
        yield Up(process, output, home, f"http://127.0.0.1:{airflow_port}", login.group(1), login.group(2))
    finally:
        if process.poll() is None:  # the test did not get to stop it: never leave it running
            os.killpg(process.pid, signal.SIGKILL)
            for child in _descendants(process.pid):
                child.kill()
            process.wait()


def _run_a_retrain_without_data(up: Up) -> None:
    """Through the REST API (logged in): wait for the DAGs, then run `retrain` for a day that has no data.

    Its sensor gives up after RETRAIN_WAIT_TIMEOUT: proof that the scheduler, the executor and the
    tasks' execution API work under `retrain up`, and a run for the grid to show.
    """
    import httpx

    with httpx.Client(base_url=up.airflow_url, trust_env=False, timeout=10) as client:
        token = client.post("/auth/token", json={"username": up.user, "password": up.password})
        assert token.status_code == 201, token.text
        assert client.get("/api/v2/dags").status_code == 401, "the REST API must require a login"
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        deadline = time.monotonic() + 120
        while not set(PROJECT_DAGS) <= {d["dag_id"] for d in client.get("/api/v2/dags").json()["dags"]}:
            assert time.monotonic() < deadline, "the project's DAGs were not parsed in 120s"
            time.sleep(1)
        run = "ui__2025-12-07"
        body = {"dag_run_id": run, "logical_date": "2025-12-07T00:00:00Z"}
        assert client.post("/api/v2/dags/retrain/dagRuns", json=body).status_code == 200
        assert client.patch("/api/v2/dags/retrain", json={"is_paused": False}).status_code == 200
        deadline = time.monotonic() + 120
        while client.get(f"/api/v2/dags/retrain/dagRuns/{run}").json()["state"] != "failed":
            assert time.monotonic() < deadline, f"the retrain run did not finish in 120s:\n{up.text()}"
            time.sleep(2)
        tasks = client.get(f"/api/v2/dags/retrain/dagRuns/{run}/taskInstances").json()["task_instances"]
        states = {ti["task_id"]: ti["state"] for ti in tasks}
        assert states["wait_for_data"] == "failed" and states["train_model"] == "upstream_failed", states


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never try to download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*headless_flags(tmp_path / "profile"), "--no-proxy-server", "--window-size=1440,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait_for_text(driver, texts: tuple[str, ...], timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def shown(d):  # type: ignore[no-untyped-def]
        body = d.find_element(By.TAG_NAME, "body").text
        return all(t in body for t in texts)

    try:
        WebDriverWait(driver, timeout).until(shown)
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "airflow-ui-failure.png"))
        raise AssertionError(
            f"{texts} not shown at {driver.current_url}; see test-artifacts/airflow-ui-failure.png"
        ) from None


def test_log_in_list_the_dags_open_the_retrain_grid_then_stop_cleanly(up: Up, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    _run_a_retrain_without_data(up)

    # given: the UI asks for a login
    browser.get(f"{up.airflow_url}/")
    WebDriverWait(browser, 60).until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[type=password]")))
    assert "/auth/login" in browser.current_url

    # when: we sign in with the printed credentials
    browser.find_element(By.CSS_SELECTOR, "input:not([type=password])").send_keys(up.user)
    browser.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(up.password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 60).until(lambda d: "/auth/login" not in d.current_url)

    # then: the DAG list shows this project's DAGs
    browser.get(f"{up.airflow_url}/dags")
    _wait_for_text(browser, PROJECT_DAGS)

    # and: the retrain DAG opens on its grid, with the contract's tasks
    browser.get(f"{up.airflow_url}/dags/retrain")
    _wait_for_text(browser, RETRAIN_TASKS)
    time.sleep(1)  # let the grid finish drawing before the picture
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "airflow-ui.png"))

    # when: retrain up gets SIGTERM (what Ctrl-C does too)
    children = _descendants(up.process.pid)
    assert len(children) >= 5, "expected the api-server, scheduler, dag-processor, triggerer and MLflow"
    up.process.send_signal(signal.SIGTERM)

    # then: it exits 0 and every process it started is gone
    assert up.process.wait(timeout=90) == 0, up.text()
    assert "stopped." in up.text()
    assert _alive(children) == []
    assert _processes_using(up.home) == []
