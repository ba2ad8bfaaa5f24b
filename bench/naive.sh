#!/usr/bin/env bash
# Benchmark A, "the naive way": for each report of the plan, the papermill CLI, then
# `jupyter nbconvert --to html --no-input`, one after the other.
# Run from the repo root with the venv on PATH:
#   PATH=.venv/bin:$PATH bench/naive.sh [OUT_DIR [PLAN]]     (PLAN: default bench/plan.toml)
set -euo pipefail
out=${1:-$(mktemp -d)}
plan=${2:-bench/plan.toml}
mkdir -p "$out"
# one line per report: name <TAB> notebook path <TAB> parameters as JSON (JSON is YAML)
roundup list --plan "$plan" --json | python -c '
import json, sys
for r in json.load(sys.stdin):
    print(r["name"], "notebooks/" + r["notebook"], json.dumps(r["parameters"]), sep="\t")
' | while IFS=$'\t' read -r name notebook params; do
  papermill --no-progress-bar --log-level WARNING --cwd notebooks -k python3 \
    -y "$params" "$notebook" "$out/$name.ipynb"
  jupyter nbconvert --to html --no-input --log-level WARN "$out/$name.ipynb" --output-dir "$out"
done
echo "$out"
