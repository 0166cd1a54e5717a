#!/usr/bin/env bash
# Runs ON the Airflow host (the deploy job pipes it over ssh): switch the compose deployment to the image
# IMAGE (ghcr.io/OWNER/REPO:SHA, DAGs and package baked in) and wait until every service is healthy.
# DEPLOY_PATH is the folder of the host's checkout holding deploy/ (its .env and retrain.env stay as they are).
set -euo pipefail
: "${IMAGE:?IMAGE=registry/name:tag is required}"
cd "${DEPLOY_PATH:?DEPLOY_PATH (the host folder holding deploy/) is required}/deploy"
# RETRAIN_IMAGE is the image every service of docker-compose.yml runs; kept in .env so that a later
# `docker compose up` by hand keeps this version.
touch .env
sed -i '/^RETRAIN_IMAGE=/d' .env
echo "RETRAIN_IMAGE=${IMAGE}" >> .env
docker compose pull --quiet
docker compose up -d --wait --remove-orphans
echo "deployed ${IMAGE}"
