"""The Dockerfile and compose.yaml, checked without a Docker engine (this machine and CI have none).

The layer order is what keeps rebuilds cheap: dependencies from pyproject.toml alone, then the source.
The dependency step's own command is run here against the real pyproject.toml. No YAML library is a
dependency of the project, so compose.yaml is checked as text.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ("bot/", "services/", "storage/", "migrations/")
HEALTH = ["python", "-m", "bot", "health"]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def index(steps: list[tuple[str, str]], keyword: str, matches: str) -> int:
    return next(i for i, (k, rest) in enumerate(steps) if k == keyword and matches in rest)


def test_dependencies_are_installed_in_a_layer_before_the_source() -> None:
    steps = instructions()
    copies = [(i, rest) for i, (k, rest) in enumerate(steps) if k == "COPY"]
    first_copy, first_args = copies[0]
    assert first_args == "pyproject.toml ./", "only pyproject.toml before the dependency install"
    install_deps = index(steps, "RUN", "pip install --no-cache-dir -r")
    install_package = index(steps, "RUN", "pip install --no-cache-dir --no-deps .")
    source_copies = [i for i, rest in copies if rest.split()[0] in SOURCE]
    assert sorted(rest.split()[0] for i, rest in copies if i in source_copies) == sorted(SOURCE)
    assert first_copy < install_deps < min(source_copies) <= max(source_copies) < install_package
    assert index(steps, "COPY", "README.md") > install_deps, "pyproject's readme is needed only to build"
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert sorted(f"{p.rstrip('*')}/" for p in packages["include"]) == sorted(SOURCE), "every package copied"


def test_the_dependency_step_lists_exactly_pyprojects_dependencies(tmp_path: Path) -> None:
    """Run the Dockerfile's own extraction command in a folder holding only pyproject.toml."""
    steps = instructions()
    command = steps[index(steps, "RUN", "tomllib")][1].split(">")[0]
    argv = shlex.split(command)
    assert argv[:2] == ["python", "-c"]
    (tmp_path / "pyproject.toml").write_bytes((ROOT / "pyproject.toml").read_bytes())
    listed = subprocess.run(
        [sys.executable, "-c", argv[2]], cwd=tmp_path, capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    assert listed == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def test_the_image_runs_as_a_non_root_user_with_a_health_check() -> None:
    steps = instructions()
    [(_, user)] = [s for s in steps if s[0] == "USER"]
    assert user not in ("root", "0")
    assert index(steps, "USER", user) < index(steps, "CMD", "bot")
    [(_, check)] = [s for s in steps if s[0] == "HEALTHCHECK"]
    assert json.loads(check.split(" CMD ", 1)[1]) == HEALTH
    assert steps[-1] == ("CMD", '["python", "-m", "bot"]')
    assert "does not listen yet" not in (ROOT / "Dockerfile").read_text()


def test_the_build_context_leaves_out_secrets_and_local_state() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".git", ".venv", "data", "tests"} <= ignored


def test_compose_runs_the_bot_with_its_volume_env_file_and_health_check() -> None:
    text = (ROOT / "compose.yaml").read_text()
    active = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "\t" not in text, "YAML indentation is spaces"
    assert re.search(r"^services:\n  bot:\n    build: \.$", active, re.MULTILINE)
    for line in (
        "    env_file: .env",
        "    restart: unless-stopped",
        "      - videobot-data:/data",
        f"      test: {json.dumps(['CMD', *HEALTH])}",
    ):
        assert line in active.splitlines(), line
    assert re.search(r"^volumes:\n  videobot-data:\n    name: videobot-data\b", active, re.MULTILINE)
    bot = active.split("\n  bot-2:", 1)[0]  # the replicas profile's proxy publishes 80/443, the bot never
    assert "ports:" not in bot and '#   - "8080:8080"' in text, "the web port is offered, commented"
    assert "\n  bot-2:" in active and "profiles:" in active, "a second replica behind a proxy, opt-in"


def test_readme_shows_compose_and_the_plain_docker_lines() -> None:
    readme = (ROOT / "README.md").read_text()
    docker = readme[readme.index("## Docker") :].split("\n## ", 1)[0]
    assert "docker compose up -d" in docker
    assert "docker build -t videobot ." in docker
    assert "-v videobot-data:/data videobot" in docker
    assert "python -m bot health" in docker
