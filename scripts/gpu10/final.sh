#!/usr/bin/env bash
set -u
bash carry/c10/gpu.sh test 2>&1 | tail -4
bash carry/c10/gpu.sh alice 2>&1 | tail -4
RUNS="${RUNS:-kv:16 kv:48}" bash carry/c10/slice.sh start
