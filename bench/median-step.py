#!/usr/bin/env python3
"""The median step time of a training log (train.jsonl), skipping the first SKIP (10) warm-up steps.

median-step.py LOG            prints the median in seconds
median-step.py LOG --json     prints {"median_step_s", "min_s", "max_s", "steps"} (the steps counted)
median-step.py LOG --skip N   skips N steps instead
"""
import json
import statistics
import sys

SKIP = int(sys.argv[sys.argv.index("--skip") + 1]) if "--skip" in sys.argv else 10
times = [json.loads(line)["step_time_s"] for line in open(sys.argv[1]) if line.strip()][SKIP:]
if not times:
    sys.exit(f"median-step.py: {sys.argv[1]} has no step after the {SKIP} warm-up steps it skips; log more steps")
if "--json" in sys.argv[2:]:
    print(json.dumps({"median_step_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
                      "steps": len(times)}))
else:
    print(statistics.median(times))
