"""bandit finds nothing of medium or high severity in the project's code (a `# nosec` only
with its reason on the line)."""

import re
import subprocess
import sys
from pathlib import Path

from django.conf import settings

PACKAGES = ["tensafe_ir", "incidents", "comms", "pir", "integrations", "dashboard"]


def test_bandit_reports_no_medium_or_high_issue():
    command = [sys.executable, "-m", "bandit", "-ll", "-q", "-r", *PACKAGES]
    command += ["-x", "*/migrations/*,*/tests/*", "-f", "custom"]
    command += ["--msg-template", "{relpath}:{line} {test_id} {severity} {msg}"]
    result = subprocess.run(
        command,
        cwd=Path(settings.BASE_DIR),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_every_nosec_gives_its_reason():
    root = Path(settings.BASE_DIR)
    bare = []
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                match = re.search(r"#\s*nosec\b(.*)", line)
                # "# nosec B123  # why": a test id and, after it, a reason in words.
                if match and not re.search(r"B\d{3}.*#\s*\w+", match.group(1)):
                    bare.append(f"{path.relative_to(root)}:{number}")
    assert bare == []
