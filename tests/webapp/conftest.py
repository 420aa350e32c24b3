"""The gallery Mini App under test: the poller's rig (real services, store, fake Bot API) with the bot's web
app serving the gallery on loopback, Telegram's initData signed as Telegram signs it, and one headless
Chromium for the whole session, driven through Debian's chromium-driver.

Selenium's calls block, so each runs in a worker thread while the test's event loop goes on serving the
page and its API. Waiting on the page is event-driven: `Browser.wait` resolves inside the page on the
first DOM change (or media event) that makes its condition true, with a timeout that only fails a test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from aiohttp import web
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from bot.web import build_web_app
from bot.webapp.api import WebAppServices
from bot.webapp.wiring import gallery_services
from storage.local_media import LocalMediaStore
from storage.records import Generation, GenerationStatus
from tests.conftest import TOKEN
from tests.poller.conftest import USER, Rig, rig, rig_settings

__all__ = ["rig", "rig_settings"]

OTHER = 5002
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Telegram's dark theme, as themeParams: the page must take its colours from these.
THEME = {
    "bg_color": "#17212b",
    "text_color": "#f5f5f5",
    "hint_color": "#708499",
    "link_color": "#6ab3f3",
    "button_color": "#5288c1",
    "button_text_color": "#ffffff",
    "secondary_bg_color": "#232e3c",
    "destructive_text_color": "#ec3942",
}
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT_SECONDS = 20


def sign_init_data(
    user_id: int,
    *,
    token: str = TOKEN,
    auth_date: int | None = None,
    language_code: str = "en",
    first_name: str = "Ada",
) -> str:
    """initData as Telegram builds it (core.telegram.org/bots/webapps, "Validating data"): the fields
    sorted into a data-check-string, HMAC-SHA256 under HMAC_SHA256("WebAppData", bot token)."""
    user = {
        "id": user_id,
        "first_name": first_name,
        "language_code": language_code,
        "allows_write_to_pm": True,
    }
    fields = {
        "query_id": f"AAH{user_id}test",
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
        "auth_date": str(int(time.time()) if auth_date is None else auth_date),
    }
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields, quote_via=quote)


@dataclass
class Gallery:
    """The gallery on loopback over the rig: `url` is the page, `api` calls its JSON API."""

    rig: Rig
    base: str
    services: WebAppServices
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return self.base + "/webapp/"

    def page(self, init_data: str | None, *, theme: dict[str, str] | None = None) -> str:
        """The page as Telegram opens it: launch parameters in the URL fragment."""
        if init_data is None:
            return self.url
        params = {
            "tgWebAppData": init_data,
            "tgWebAppVersion": "8.0",
            "tgWebAppPlatform": "android",
            "tgWebAppThemeParams": json.dumps(theme or THEME, separators=(",", ":")),
        }
        return self.url + "#" + urlencode(params, quote_via=quote)

    async def api(
        self,
        method: str,
        path: str,
        *,
        user: int | None = USER,
        init_data: str | None = None,
        authorization: str | None = None,
        body: Any = None,
    ) -> tuple[int, Any]:
        """(status, JSON body) of one API call, as `user` (initData signed now) unless told otherwise."""
        if authorization is None:
            data = (
                init_data if init_data is not None else (sign_init_data(user) if user is not None else None)
            )
            authorization = None if data is None else f"tma {data}"
        headers = {} if authorization is None else {"Authorization": authorization}
        async with self.http.request(
            method, f"{self.base}/webapp/api/{path}", headers=headers, json=body
        ) as response:
            text = await response.text()
            assert TOKEN not in text and TOKEN.split(":")[1] not in text
            return response.status, json.loads(text) if text else None

    async def delivered(self, prompt: str, *, user_id: int = USER) -> Generation:
        """A demo video ordered, made, stored and delivered."""
        generation = await self.rig.order(prompt, model="demo", user_id=user_id)
        await self.rig.settle(generation.id)
        result = await self.rig.get(generation.id)
        assert result.status is GenerationStatus.DELIVERED, result.status
        return result


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
async def gallery(rig: Rig) -> AsyncIterator[Gallery]:
    """The bot's web app with the gallery mounted, over the rig's services. The embedded media store is
    the rig's folder and key, with links pointing here (the rig's own point at https://bot.example)."""
    sock = _free_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    media = rig.media
    if isinstance(media, LocalMediaStore):
        media = LocalMediaStore(
            rig.settings.media_dir, public_base_url=base, link_secret=rig.settings.media_link_key()
        )
    services = dataclasses.replace(gallery_services(rig.services, rig.bot), media=media)
    app = build_web_app(
        poller=rig.poller, providers=rig.providers, settings=rig.settings, media=media, gallery=services
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    http = aiohttp.ClientSession()
    try:
        yield Gallery(rig=rig, base=base, services=services, http=http)
    finally:
        await http.close()
        await runner.cleanup()


class Browser:
    """One headless Chromium, shared by the session's tests; every call runs in a worker thread."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver

    async def open(self, url: str) -> None:
        """Load `url` fresh and wait until the page has settled on a state (ready, empty, refused)."""
        await asyncio.to_thread(self.driver.get, "about:blank")
        await asyncio.to_thread(self.driver.get, url)
        await self.wait("document.body && document.body.dataset.state !== 'loading'")

    async def wait(self, condition: str, timeout: float = WAIT_SECONDS) -> Any:  # noqa: ASYNC109
        """The truthy value of the JavaScript expression `condition`, once a DOM change or a media event
        makes it so (checked in the page, not by polling from here)."""
        script = f"""
            const done = arguments[arguments.length - 1];
            const test = () => {{ try {{ return ({condition}); }} catch (error) {{ return undefined; }} }};
            const events = ["loadedmetadata", "loadeddata", "canplay", "error"];
            let observer = null;
            const check = () => {{
                const value = test();
                if (!value) return false;
                if (observer) observer.disconnect();
                for (const name of events) document.removeEventListener(name, check, true);
                done(value);
                return true;
            }};
            if (!check()) {{
                observer = new MutationObserver(check);
                const all = {{subtree: true, childList: true, attributes: true, characterData: true}};
                observer.observe(document, all);
                for (const name of events) document.addEventListener(name, check, true);
            }}
        """

        def run() -> Any:
            self.driver.set_script_timeout(timeout)
            return self.driver.execute_async_script(script)

        try:
            return await asyncio.to_thread(run)
        except TimeoutException:
            state = await self.run("return JSON.stringify(document.body ? document.body.dataset : null)")
            text = await self.run("return document.body ? document.body.innerText.slice(0, 800) : ''")
            raise AssertionError(
                f"still false after {timeout}s: {condition}\nstate {state}\n{text}"
            ) from None

    async def run(self, script: str, *args: Any) -> Any:
        return await asyncio.to_thread(self.driver.execute_script, script, *args)

    async def click(self, css: str) -> None:
        """A real click (Chromium's input events) on the element `css` selects, scrolled into view."""

        def click() -> None:
            element = self.driver.find_element(By.CSS_SELECTOR, css)
            self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
            element.click()

        await asyncio.to_thread(click)

    async def texts(self, css: str) -> list[str]:
        return await self.run(
            "return Array.from(document.querySelectorAll(arguments[0]), (node) => node.textContent)", css
        )

    async def card_ids(self) -> list[str]:
        return await self.run("return Array.from(document.querySelectorAll('.card'), (c) => c.dataset.id)")

    async def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        await self.run("window.scrollTo(0, 0)")
        saved = await asyncio.to_thread(self.driver.save_screenshot, str(path))
        assert saved, path
        return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium through chromium-driver (scripts/test installs both; nothing is downloaded), with
    the flags this closed network needs, a phone-sized window and a fresh profile. Every host but loopback
    fails to resolve at once, so Telegram's telegram-web-app.js is missing, as the page must survive.
    The window is a phone's: 390 × 844 CSS pixels with touch input."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        assert Path(binary).exists(), (
            f"{binary} is missing: scripts/test installs chromium and chromium-driver"
        )
    profile = tempfile.TemporaryDirectory(prefix="gallery-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--mute-audio",
        "--window-size=500,900",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--ignore-certificate-errors",  # the Supabase double's signed links: a throwaway certificate
        f"--user-data-dir={profile.name}",
    ):
        options.add_argument(flag)
    # a phone's screen and touch input (a desktop window is at least 500 pixels wide)
    options.add_experimental_option(
        "mobileEmulation", {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 1, "touch": True}}
    )
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException:
        profile.cleanup()
        raise
    try:
        yield Browser(driver)
    finally:
        driver.quit()
        profile.cleanup()
