"""The web app writes no access log: its paths carry secrets (callback tokens, signed links)."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from bot.web import build_web_app, start_web_app
from tests.poller.conftest import Rig


async def test_callback_tokens_and_media_signatures_never_reach_the_log(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_web_app(poller=rig.poller, providers=rig.providers, settings=rig.settings, media=rig.media)
    runner = await start_web_app(app, host="127.0.0.1", port=0)
    port = runner.addresses[0][1]
    token = rig.settings.callback_token("runware")
    caplog.set_level(logging.DEBUG)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as health:
                assert health.status == 200
            async with http.post(f"http://127.0.0.1:{port}/callbacks/runware/{token}", data=b"[]") as cb:
                assert cb.status < 500
            async with http.get(f"http://127.0.0.1:{port}/media/1/x.mp4?exp=1&sig=s3cr3tsig") as link:
                assert 400 <= link.status < 500
    finally:
        await runner.cleanup()
    assert token not in caplog.text and "s3cr3tsig" not in caplog.text, caplog.text
    assert not [r for r in caplog.records if r.name == "aiohttp.access"]
