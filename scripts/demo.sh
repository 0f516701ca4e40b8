#!/usr/bin/env bash
# Install idreader in .venv (first run only) and read the shipped demo exam.
# Writes ids.csv (one row per page) and report.html (the review report).
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/idreader ] || { python3 -m venv .venv && .venv/bin/python -m pip install -q -e .; }

exec .venv/bin/idreader scan examples/demo_exams.pdf \
  --classlist examples/demo_classlist.csv --out ids.csv --report report.html "$@"
