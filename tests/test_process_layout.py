"""The processes `make run` (Procfile), compose.yaml and the Dockerfile start are the ones the
docs describe (docs/operations.md): /metrics adds up the web processes, pages have their own
queue on the default workers, and two timers workers run."""

import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))


def web_commands() -> dict[str, str]:
    compose = (ROOT / "compose.yaml").read_text()
    web = compose[compose.index("\n  web:") : compose.index("\n  worker:")]
    dockerfile = (ROOT / "Dockerfile").read_text()
    return {
        "Procfile": procfile()["web"],
        "compose.yaml": web,
        "Dockerfile": dockerfile[dockerfile.index("\nCMD ") :],
    }


def test_every_web_start_counts_metrics_across_its_processes_from_an_emptied_directory():
    """Without PROMETHEUS_MULTIPROC_DIR each gunicorn process answers /metrics with its own
    counts, and consecutive scrapes jumped between them (38, 24, 39, 25...)."""
    for where, command in web_commands().items():
        found = re.search(r"PROMETHEUS_MULTIPROC_DIR=(\S+) exec gunicorn", command)
        assert found, where
        directory = found.group(1)
        assert f"rm -rf {directory} && mkdir -p {directory}" in command, where
        assert "--workers" in command, where


def test_the_default_workers_take_pages_and_two_timers_workers_run():
    processes = procfile()
    assert "-Q pages,celery " in processes["worker"]
    timers = [name for name, command in processes.items() if "-Q timers " in command]
    assert timers == ["timers1", "timers2"]
    names = {re.search(r"-n (\S+)", processes[name]).group(1) for name in timers}
    assert len(names) == 2  # distinct node names
    compose = (ROOT / "compose.yaml").read_text()
    assert "-Q pages,celery " in compose
    timers_service = compose[compose.index("\n  timers:") : compose.index("\n  beat:")]
    assert "replicas: 2" in timers_service


def _beat_log(tmp_path, seconds: float, **env) -> str:
    """`celery beat` as the Procfile starts it (-l info), on a broker of its own under
    tmp_path, stopped after `seconds`, or as soon as it logs a routine send; its log."""
    import os
    import signal
    import subprocess
    import sys
    import time

    environment = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")
    }
    environment |= {"TENSAFE_VAR_DIR": str(tmp_path), **env}
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "beat.log"
    command = [sys.executable, "-m", "celery", "-A", "tensafe_ir", "beat", "-l", "info"]
    command += ["-s", str(tmp_path / "schedule")]
    with open(log, "wb") as out:
        beat = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=out, stderr=out)
        try:
            end = time.monotonic() + seconds
            while time.monotonic() < end and b"Sending due task" not in log.read_bytes():
                time.sleep(0.1)
        finally:
            beat.send_signal(signal.SIGTERM)
            beat.wait(timeout=30)
    return log.read_text()


def _started(log: str) -> bool:
    return "celery beat" in log and "is starting." in log  # the banner, printed at any level


def test_beat_logs_no_routine_lines_by_default(tmp_path):
    """Beat sent the per-second sweeps at INFO: ~10,000 lines an hour of `make run` (issue
    17). By default they are not logged (nor the workers' per-task "received"/"succeeded");
    TENSAFE_TASK_LOG_LEVEL=INFO brings them back. The quiet beat runs as long as the loud one
    took to log its first send, and then some, so its silence is not for want of time."""
    import time

    started = time.monotonic()
    loud = _beat_log(tmp_path / "loud", 60, TENSAFE_TASK_LOG_LEVEL="INFO")
    assert "Sending due task" in loud, loud
    took = time.monotonic() - started
    quiet = _beat_log(tmp_path / "quiet", took + 2)
    assert _started(quiet), quiet
    assert "Sending due task" not in quiet
    assert "No hostname was supplied" not in quiet
