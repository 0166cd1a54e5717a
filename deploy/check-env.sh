#!/usr/bin/env bash
# Refuses to start the deployment while a secret of deploy/.env is missing, too weak or still a
# placeholder (change-me). Run by the `check-env` service, which everything else waits for, and again
# by `airflow-init` before it migrates the database.
set -euo pipefail

required=(POSTGRES_USER POSTGRES_PASSWORD AIRFLOW_ADMIN_USER AIRFLOW_ADMIN_PASSWORD
          AIRFLOW_JWT_SECRET AIRFLOW_API_SECRET_KEY AIRFLOW_FERNET_KEY)
secrets=(POSTGRES_PASSWORD AIRFLOW_ADMIN_PASSWORD AIRFLOW_JWT_SECRET AIRFLOW_API_SECRET_KEY)
problems=()

is_placeholder() {
    local value="${1,,}"
    [[ "$value" == *change-me* || "$value" == *changeme* || "$value" == *change_me* || "$value" == "<"*">" ]]
}

for name in "${required[@]}"; do
    value="${!name:-}"
    if [[ -z "$value" ]]; then
        problems+=("$name is not set")
    elif is_placeholder "$value"; then
        problems+=("$name is still a placeholder")
    fi
done
for name in "${secrets[@]}"; do
    value="${!name:-}"
    if [[ -n "$value" ]] && ! is_placeholder "$value" && (( ${#value} < 16 )); then
        problems+=("$name is shorter than 16 characters")
    fi
done
# The PostgreSQL password goes into connection URLs: it must not need escaping there.
if [[ -n "${POSTGRES_PASSWORD:-}" && ! "$POSTGRES_PASSWORD" =~ ^[A-Za-z0-9._~-]+$ ]]; then
    problems+=("POSTGRES_PASSWORD may only hold letters, digits and . _ ~ - (it goes into URLs)")
fi
if [[ -n "${AIRFLOW_FERNET_KEY:-}" ]] && ! is_placeholder "$AIRFLOW_FERNET_KEY" \
   && [[ ! "$AIRFLOW_FERNET_KEY" =~ ^[A-Za-z0-9_-]{43}=$ ]]; then
    problems+=("AIRFLOW_FERNET_KEY is not a Fernet key (32 url-safe base64-encoded bytes)")
fi
# Any other value of .env (the check-env service gets them all) must not be a placeholder either.
while IFS='=' read -r name value; do
    if is_placeholder "$value" && [[ ! " ${required[*]} " == *" $name "* ]]; then
        problems+=("$name is still a placeholder")
    fi
done < <(env)

if (( ${#problems[@]} )); then
    echo "retrain: refusing to start, deploy/.env is not ready:" >&2
    printf '  - %s\n' "${problems[@]}" >&2
    echo "Copy deploy/.env.example to deploy/.env and replace every change-me (see deploy/README.md)." >&2
    exit 1
fi
echo "retrain: deploy/.env has every secret set"
