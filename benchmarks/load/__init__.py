"""What the benchmarks and the load tests share, one concern per module.

- `photos`: test photos nobody uploaded before, and the upload bodies that carry them;
- `users`: the load-test accounts (created straight in the database), logging in;
- `system`: the system under test: its environment, database, and a started stack;
- `clients`: closed-loop clients uploading back to back, and what a load run measured;
- `sampling`: CPU time and memory of groups of processes, percentiles, timed loops;
- `host`: facts about the machine and the run that every results file starts with;
- `markdown`: figures, tables and templates for the documents the runs write.

Everything here runs outside the measured code paths: photos are prepared before a run
starts and the process sampler reads /proc about once a second.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
WORK_DIR = REPO_ROOT / ".run" / "benchmarks"  # media, static files, logs of the stacks
