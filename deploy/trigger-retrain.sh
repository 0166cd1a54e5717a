#!/usr/bin/env bash
# Trigger the `retrain` DAG through Airflow's REST API (v2) with conf {"trigger": "manual"}, as the deploy job
# does after rolling out a new image: the new code retrains, and the gate (threshold and the paired interval
# against the champion) decides whether its model is deployed. Usable by hand too:
#   AIRFLOW_URL=https://airflow.example.org AIRFLOW_USER=admin AIRFLOW_PASSWORD=... deploy/trigger-retrain.sh
# RETRAIN_DATE (YYYY-MM-DD, default today, UTC) is the logical date: the day whose data the retrain waits for.
# The run id names the commit (GITHUB_SHA), so re-running the job does not trigger twice (409 = already there).
set -euo pipefail
: "${AIRFLOW_URL:?AIRFLOW_URL (the api-server, e.g. https://airflow.example.org) is required}"
: "${AIRFLOW_USER:?AIRFLOW_USER is required}" "${AIRFLOW_PASSWORD:?AIRFLOW_PASSWORD is required}"
ds="${RETRAIN_DATE:-$(date -u +%F)}"
run_id="deploy__${GITHUB_SHA:-manual-$(date -u +%Y%m%dT%H%M%S)}"
api="${AIRFLOW_URL%/}"
answer=$(mktemp)
trap 'rm -f "$answer"' EXIT

credentials=$(jq -n --arg u "$AIRFLOW_USER" --arg p "$AIRFLOW_PASSWORD" '{username: $u, password: $p}')
token=$(curl -fsS -X POST "$api/auth/token" -H 'Content-Type: application/json' -d "$credentials" | jq -r .access_token)
if [ -n "${GITHUB_ACTIONS:-}" ]; then echo "::add-mask::$token"; fi

body=$(jq -n --arg id "$run_id" --arg ds "${ds}T00:00:00Z" \
  '{dag_run_id: $id, logical_date: $ds, conf: {trigger: "manual"}, note: "triggered by the deploy job"}')
status=$(curl -sS -o "$answer" -w '%{http_code}' -X POST "$api/api/v2/dags/retrain/dagRuns" \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$body")
case "$status" in
  200|201) echo "triggered retrain run $run_id for $ds: $api/dags/retrain/runs/$run_id" ;;
  409) echo "retrain run $run_id already exists: nothing to do" ;;
  *) echo "error: POST /api/v2/dags/retrain/dagRuns answered $status: $(head -c 500 "$answer")" >&2; exit 1 ;;
esac
