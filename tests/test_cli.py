"""`python -m bot` as an operator runs it: clear messages, no tracebacks, exit codes that scripts can use."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bot.check import report
from services.catalog import load_catalog
from services.settings import Settings
from tests.conftest import TOKEN


def run_bot(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_token_the_bot_says_so_and_exits(tmp_path: Path) -> None:
    result = run_bot(cwd=tmp_path)
    assert result.returncode == 2
    assert "BOT_TOKEN is missing" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists(), "nothing is created before the configuration is valid"


def test_check_lists_models_by_route_without_contacting_telegram(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"BOT_TOKEN={TOKEN}\nDEMO_MODE=true\nRUNWARE_API_KEY=rw-key\nTELEGRAM_API_URL=http://127.0.0.1:9\n",
        encoding="utf-8",
    )
    result = run_bot("check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Configuration is valid." in result.stdout
    assert "Providers with keys: runware, demo" in result.stdout
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("  ")}
    assert "via runware:vidu:1@1" in lines["vidu-q1"]
    assert "from 5 credits" in lines["demo"]
    assert "sora-2" not in lines
    assert "rw-key" not in result.stdout
    assert TOKEN not in result.stdout
    assert not (tmp_path / "data").exists(), "the data directory is tested, not created"


def test_check_without_any_model_fails(tmp_path: Path) -> None:
    result = run_bot("check", cwd=tmp_path, BOT_TOKEN=TOKEN)
    assert result.returncode == 1
    assert "No model is available" in result.stdout


def test_broken_catalog_stops_the_start(tmp_path: Path) -> None:
    broken = tmp_path / "my-catalog.toml"
    broken.write_text("[[models]]\nkey = 'x'\n", encoding="utf-8")
    result = run_bot(cwd=tmp_path, BOT_TOKEN=TOKEN, CATALOG_PATH=str(broken))
    assert result.returncode == 2
    assert str(broken) in result.stderr
    assert "model #1 'x'" in result.stderr
    assert "Traceback" not in result.stderr


def test_many_problems_in_one_message(tmp_path: Path) -> None:
    result = run_bot(cwd=tmp_path, BOT_TOKEN="bad", ADMIN_IDS="x", POLL_INTERVAL_SECONDS="-1")
    assert result.returncode == 2
    for name in ("BOT_TOKEN", "ADMIN_IDS", "POLL_INTERVAL_SECONDS"):
        assert f"  - {name}" in result.stderr


def test_check_shows_where_providers_send_callbacks(make_settings: Callable[..., Settings]) -> None:
    catalog = load_catalog()
    polled, _ = report(make_settings(runware_api_key="rw-key"), catalog)
    assert "Provider callbacks: off" in polled
    settings = make_settings(
        runware_api_key="rw-key", openai_api_key="sk-x", public_base_url="https://bot.example"
    )
    text, _ = report(settings, catalog)
    token = settings.callback_token("runware")
    assert f"runware callbacks (sent with each task): https://bot.example/callbacks/runware/{token}" in text
    assert "openai callbacks (set as the project webhook): https://bot.example/callbacks/openai/" in text
    assert "kie callbacks" not in text, "only configured providers are listed"
