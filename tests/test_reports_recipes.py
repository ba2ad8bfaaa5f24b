"""The scheduling recipes in deploy/: cron, systemd, GitHub Actions, checked as far as this
machine allows (no cron daemon, no systemd as PID 1, no GitHub runner)."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis import paths

DEPLOY = paths.PROJECT_ROOT / "deploy"
PLACEHOLDER = "/srv/china-tech-roundup"
CRON_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]  # minute hour day month weekday


def _cron_field_ok(field: str, low: int, high: int) -> bool:
    """One crontab time field: *, N, N-M, lists of those, each with an optional /STEP."""
    for part in field.split(","):
        base, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if base == "*":
            continue
        bounds = base.split("-")
        if len(bounds) > 2 or not all(b.isdigit() and low <= int(b) <= high for b in bounds):
            return False
    return True


def _cron_line() -> tuple[list[str], str]:
    lines = [
        line
        for line in (DEPLOY / "crontab").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert len(lines) == 1, lines
    fields = lines[0].split(None, 5)
    assert len(fields) == 6, "five time fields and a command"
    return fields[:5], fields[5]


def test_crontab_line_has_five_valid_time_fields_and_the_build_command():
    times, command = _cron_line()
    for field, (low, high) in zip(times, CRON_RANGES, strict=True):
        assert _cron_field_ok(field, low, high), field
    assert "%" not in command  # cron would turn it into a newline
    words = shlex.split(command)
    assert words[:3] == ["flock", "-n", "/tmp/roundup-build.lock"]
    assert words[3:5] == ["sh", "-c"]
    assert words[5] == f"cd {PLACEHOLDER} && .venv/bin/roundup build --no-wait"
    assert words[6:] == [">>", f"{PLACEHOLDER}/reports/build.log", "2>&1"]


@pytest.mark.skipif(shutil.which("flock") is None, reason="flock (util-linux) not installed")
def test_crontab_command_runs_and_an_overlapping_run_is_skipped(tmp_path):
    """The cron command itself, run by sh as cron would, on a copy of the project whose
    ``roundup`` only records its arguments and sleeps: a second run while the first holds the
    lock exits at once, non-zero, without starting roundup."""
    project = tmp_path / "project"
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / "reports").mkdir()
    fake = project / ".venv" / "bin" / "roundup"
    fake.write_text(
        '#!/bin/sh\necho "roundup $* in $(pwd)"\ntouch started\nsleep 1.5\necho finished\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    _, command = _cron_line()
    command = command.replace(PLACEHOLDER, str(project))
    command = command.replace("/tmp/roundup-build.lock", str(tmp_path / "build.lock"))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SHELL": "/bin/sh"}  # cron's

    first = subprocess.Popen(["/bin/sh", "-c", command], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 10
    while not (project / "started").exists():
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.05)
    started = time.monotonic()
    second = subprocess.run(["/bin/sh", "-c", command], env=env, cwd=tmp_path, timeout=10)
    assert second.returncode == 1  # flock -n: the lock is held
    assert time.monotonic() - started < 1  # did not wait for the first
    assert first.wait(timeout=10) == 0
    log = (project / "reports" / "build.log").read_text(encoding="utf-8")
    assert log.count("roundup build --no-wait in " + str(project)) == 1
    assert log.rstrip().endswith("finished")


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string((DEPLOY / name).read_text(encoding="utf-8"))
    return parser


def test_systemd_service_is_a_oneshot_roundup_build():
    unit = _unit("roundup.service")
    assert set(unit.sections()) == {"Unit", "Service"}
    service = unit["Service"]
    assert service["Type"] == "oneshot"
    assert service["WorkingDirectory"] == PLACEHOLDER
    assert shlex.split(service["ExecStart"]) == [
        f"{PLACEHOLDER}/.venv/bin/roundup",
        "build",
        "--no-wait",
    ]
    assert service["KillMode"] == "mixed"  # SIGTERM to roundup, which stops its workers


def test_systemd_timer_is_daily_and_persistent():
    unit = _unit("roundup.timer")
    timer = unit["Timer"]
    assert re.fullmatch(r"\*-\*-\* \d\d:\d\d:\d\d", timer["OnCalendar"]), timer["OnCalendar"]
    assert timer["Persistent"] == "true"
    assert unit["Install"]["WantedBy"] == "timers.target"
    assert timer.get("Unit", "roundup.service") == "roundup.service"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_units_pass_systemd_analyze_verify(tmp_path):
    """``systemd-analyze verify`` on copies whose paths point at this project (it checks that
    ExecStart exists) and whose user is the current one."""
    roundup = Path(sys.executable).parent / "roundup"
    for name in ("roundup.service", "roundup.timer"):
        text = (DEPLOY / name).read_text(encoding="utf-8")
        text = text.replace(f"{PLACEHOLDER}/.venv/bin/roundup", str(roundup))
        text = text.replace(PLACEHOLDER, str(paths.PROJECT_ROOT))
        text = re.sub(r"(?m)^User=.*$", f"User={os.getuid()}", text)
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "roundup.service", "roundup.timer"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "roundup" not in result.stderr, result.stderr  # no warning about our units
    calendar = _unit("roundup.timer")["Timer"]["OnCalendar"]
    parsed = subprocess.run(
        ["systemd-analyze", "calendar", calendar], capture_output=True, text=True, timeout=30
    )
    assert parsed.returncode == 0, parsed.stderr


def test_github_workflow_builds_on_a_schedule_and_uploads_the_site():
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((DEPLOY / "github-workflow.yml").read_text(encoding="utf-8"))
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    (cron,) = [entry["cron"] for entry in triggers["schedule"]]
    times = cron.split()
    assert len(times) == 5
    for field, (low, high) in zip(times, CRON_RANGES, strict=True):
        assert _cron_field_ok(field, low, high), field
    assert "workflow_dispatch" in triggers

    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    uses = [step.get("uses", "").split("@")[0] for step in steps]
    assert uses.index("actions/checkout") < uses.index("actions/setup-python")
    setup = steps[uses.index("actions/setup-python")]
    assert setup["with"]["python-version"] == "3.11"  # a string, not the float 3.11
    runs = [step["run"] for step in steps if "run" in step]
    assert runs == ["make report"]
    upload = steps[uses.index("actions/upload-artifact")]
    assert upload["with"]["path"].rstrip("/") == "reports/site"
    assert upload["if"] == "always()"
    assert steps.index(upload) > uses.index("actions/setup-python")


def test_make_report_is_the_target_the_workflow_runs():
    make = shutil.which("make")
    if make is None:
        pytest.skip("make not installed")
    result = subprocess.run(
        [make, "-n", "-o", "Makefile", "report", "STAMP=Makefile"],  # dry run, setup done
        cwd=paths.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert ".venv/bin/roundup build" in result.stdout
