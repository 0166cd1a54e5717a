#!/usr/bin/env bash
# One-shot service that every Airflow component waits for (service_completed_successfully):
# refuses placeholders, migrates Airflow's metadata database, and writes the admin's password from
# deploy/.env to the simple auth manager's passwords file (on the airflow-auth volume, owner-only).
set -euo pipefail

/opt/retrain/deploy/check-env.sh

airflow db migrate

python3 - <<'PY'
import json
import os
from pathlib import Path

path = Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
path.parent.mkdir(parents=True, exist_ok=True)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w", encoding="utf-8") as handle:
    handle.write(json.dumps({os.environ["AIRFLOW_ADMIN_USER"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}) + "\n")
print(f"retrain: password of {os.environ['AIRFLOW_ADMIN_USER']!r} written to {path}")
PY
