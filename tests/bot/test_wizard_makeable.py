"""A wizard that only offers what can be made, end to end over the fake Bot API, on a catalog whose routes
narrow its models: every button on every path leads to an order some route makes, summary options appear
only where a route takes them and reach only routes that take them, and /library offers extend and remix
only where the provider that made the video can do them."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path
from typing import Any

import pytest

from bot import dispatcher
from bot.middlewares import ThrottleUsers
from services import submission
from services.catalog import load_catalog
from services.providers.base import SubmitJob, Submitted, VideoProvider
from services.validation import SEED_MAX
from storage.records import Generation, GenerationStatus
from tests.bot.wizard_helpers import buttons, jpeg, press, screen, wizard
from tests.poller.conftest import USER, Rig

CATALOG = """
# More than its routes make together: 4 s only at 16:9 or 9:16, 12 s only at 9:16 or 1:1, 1080p only
# through OpenAI (and at 8 s, a rule), no 4K, no reference images; images only through LaoZhang. The
# default ratio (1:1) cannot be made at the default duration (4 s), and i2v cannot be made at 4 s.
[[models]]
key = "narrow"
name = "Narrow"
modes = ["t2v", "i2v", "ref2v"]
durations = [4, 8, 12]
aspect_ratios = ["16:9", "9:16", "1:1"]
resolutions = ["720p", "1080p", "4k"]
audio = "always"
default_audio = true
default_duration = 4
default_aspect_ratio = "1:1"
default_resolution = "720p"
prompt_max = 2000
negative_prompt = true
seed = true
max_reference_images = 1
price = { per_clip = 10, resolution = { "720p" = 1, "1080p" = 2, "4k" = 3 } }

[[models.rules]]
when = { resolution = ["1080p", "4k"] }
require = { duration = [8, 12] }
message = "rule-hd-needs-8s"

[[models.routes]]
provider = "openai"
model_id = "sora-2"
priority = 10
modes = ["t2v"]
durations = [4, 8]
aspect_ratios = ["16:9", "9:16"]
resolutions = ["720p", "1080p"]
options = ["seed"]

[[models.routes]]
provider = "laozhang"
model_id = "sora-2"
priority = 20
modes = ["t2v", "i2v"]
durations = [8, 12]
aspect_ratios = ["9:16", "1:1"]
resolutions = ["720p"]
options = ["negative_prompt"]

# Nothing its route accepts passes its rule: never listed.
[[models]]
key = "never"
name = "Never"
modes = ["t2v"]
durations = [4, 8]
aspect_ratios = ["16:9"]
resolutions = ["720p"]
default_duration = 4
default_aspect_ratio = "16:9"
default_resolution = "720p"
prompt_max = 2000
price = { per_clip = 10 }

[[models.rules]]
when = { resolution = ["720p"] }
require = { duration = [8] }
message = "rule-hd-needs-8s"

[[models.routes]]
provider = "demo"
model_id = "demo-clip"
durations = [4]

# The model has a negative prompt, enhancement and translation; its only route takes the last two.
[[models]]
key = "tidy"
name = "Tidy"
modes = ["t2v"]
durations = [4]
aspect_ratios = ["16:9"]
resolutions = ["720p"]
default_duration = 4
default_aspect_ratio = "16:9"
default_resolution = "720p"
prompt_max = 2000
negative_prompt = true
enhance_prompt = true
translate_prompt = true
price = { per_clip = 5 }

[[models.routes]]
provider = "demo"
model_id = "demo-clip"
options = ["enhance_prompt", "translate_prompt"]

# Remix only through OpenAI, extend only through LaoZhang.
[[models]]
key = "cont"
name = "Cont"
modes = ["t2v", "remix", "extend"]
durations = [4, 8]
aspect_ratios = ["16:9"]
resolutions = ["720p"]
audio = "always"
default_audio = true
default_duration = 4
default_aspect_ratio = "16:9"
default_resolution = "720p"
prompt_max = 2000
price = { per_clip = 10 }

[[models.routes]]
provider = "openai"
model_id = "sora-2"
priority = 10
modes = ["t2v", "remix"]

[[models.routes]]
provider = "laozhang"
model_id = "sora-2"
priority = 20
modes = ["t2v", "extend"]
"""
#: The settings rows, top to bottom: the order in which the offer narrows them.
ROWS = ("duration", "aspect", "resolution", "audio")


@pytest.fixture(autouse=True)
def unthrottled(monkeypatch: pytest.MonkeyPatch) -> None:
    """The walks press buttons far faster than a person can; the per-user flood limit (ThrottleUsers,
    tested in tests/unit/test_throttle.py) would drop most of the presses."""
    monkeypatch.setattr(dispatcher, "ThrottleUsers", functools.partial(ThrottleUsers, burst=100_000))


@pytest.fixture
def rig_settings(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "makeable.toml"
    path.write_text(CATALOG, encoding="utf-8")
    return {"catalog_path": path}


def makeable(mode: str, catalog_path: Path) -> set[tuple[str, str, str]]:
    """What Narrow's routes make in `mode`, worked out here from the catalog's own terms (rules, route
    narrowing) as the walk's oracle: (duration, ratio, resolution) as the summary shows them."""
    model = load_catalog(catalog_path).get("narrow")
    assert model is not None
    found = set()
    for duration, ratio, resolution in itertools.product(
        model.durations, model.aspect_ratios, model.resolutions
    ):
        values = {"mode": mode, "duration": duration, "aspect_ratio": ratio, "resolution": resolution}
        if model.broken_rules({**values, "audio": True}):
            continue
        if any(route.supports(**values) for route in model.routes):
            found.add((f"{duration} s", ratio, resolution))
    return found


async def tap(rig: Rig, data: str) -> dict[str, Any]:
    """Press a button of the wizard message by its callback data; the message as the press left it."""
    message = wizard(rig.telegram)
    assert message is not None
    query = await rig.telegram.press(USER, message["message_id"], data)
    await rig.telegram.wait_for(lambda t: t.answered(query))
    answer = rig.telegram.callback_answers[query].get("text", "")
    assert not answer, f"{data} was answered {answer!r}"
    shown = wizard(rig.telegram)
    assert shown is not None
    return shown


def data_of(message: dict[str, Any], label: str) -> str:
    [data] = [d for text, d in buttons(message) if label in text]
    return data


def rows(message: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """The settings screen's value buttons by row: (label without the mark, callback data)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for text, data in buttons(message):
        parts = data.split(":")
        if parts[0] == "wz" and parts[2] in ROWS:
            found.setdefault(parts[2], []).append((text.removeprefix("✅ "), data))
    return found


def summary_settings(message: dict[str, Any]) -> tuple[str, str, str]:
    """(duration, ratio, resolution) from the summary's "Settings: 8 s · 9:16 · 720p · …" line."""
    [line] = [x for x in message["text"].splitlines() if x.startswith("Settings: ")]
    duration, ratio, resolution, _audio = line.removeprefix("Settings: ").split(" · ")
    return duration, ratio, resolution


def assert_payable(message: dict[str, Any]) -> None:
    text = message["text"]
    assert text.startswith("📋") and "Price:" in text and "No provider" not in text, text
    assert any("Pay" in label for label, _ in buttons(message)), buttons(message)


async def walk(rig: Rig, chosen: dict[str, str], seen: set[tuple[str, str, str]], depth: int = 0) -> None:
    """Press every value each row offers after the rows above it, depth first; at every leaf the summary
    must show exactly the values pressed, with a price to pay."""
    message = wizard(rig.telegram)
    assert message is not None and message["text"].startswith("⚙️")
    if depth == len(ROWS):
        summary = await tap(rig, data_of(message, "Continue"))
        assert_payable(summary)
        shown = summary_settings(summary)
        for label in chosen.values():
            assert label in shown, f"pressed {chosen}, the summary says {shown}"
        seen.add(shown)
        change = await tap(rig, data_of(summary, "Change a setting"))
        await tap(rig, data_of(change, "Duration, format and sound"))
        return
    row = ROWS[depth]
    offered = rows(message).get(row)
    if offered is None:  # one value only: nothing to choose
        await walk(rig, chosen, seen, depth + 1)
    for label, data in offered or []:
        pressed = await tap(rig, data)
        selected = [text for text, d in buttons(pressed) if d == data]
        assert selected == [f"✅ {label}"], f"{label} did not stay selected: {selected}"
        await walk(rig, {**chosen, row: label}, seen, depth + 1)


@pytest.mark.parametrize("mode", ["t2v", "i2v"])
async def test_every_button_on_every_path_leads_to_an_order_a_route_makes(
    rig: Rig, polling: None, mode: str
) -> None:
    """Only makeable models and modes are listed, the preselected settings can be made, and a walk over
    every path of the settings screen reaches each makeable order and nothing else."""
    await rig.telegram.send_text(USER, "/generate")
    models = await screen(rig, "Choose a model")
    labels = [text for text, _ in buttons(models)]
    assert any("Narrow" in x for x in labels) and not any("Never" in x for x in labels), labels
    modes = await tap(rig, data_of(models, "Narrow"))
    assert [d.rsplit(":", 1)[1] for _, d in buttons(modes) if d.startswith("wz:")] == ["t2v", "i2v"]
    settings = await tap(rig, next(d for _, d in buttons(modes) if d.endswith(f":mode:{mode}")))
    # the preselected values can be made: the default 1:1 is not offered at 4 s, and i2v has no 4 s
    preselected = [text for text, _ in buttons(settings) if text.startswith("✅")]
    assert preselected == (["✅ 4 s", "✅ 16:9"] if mode == "t2v" else ["✅ 8 s", "✅ 1:1"])
    await tap(rig, data_of(settings, "Continue"))
    if mode == "i2v":
        await screen(rig, "first frame")
        await rig.telegram.send_photo(USER, jpeg())
    await screen(rig, "Describe the video")
    await rig.telegram.send_text(USER, "a paper boat on a river")
    assert_payable(await screen(rig, "📋"))
    change = await tap(rig, data_of(wizard(rig.telegram) or {}, "Change a setting"))
    await tap(rig, data_of(change, "Duration, format and sound"))

    seen: set[tuple[str, str, str]] = set()
    await walk(rig, {}, seen)
    assert rig.settings.catalog_path is not None
    assert seen == makeable(mode, rig.settings.catalog_path), "every makeable order is reachable"


async def pay(rig: Rig, summary: dict[str, Any], label: str) -> None:
    """Press the summary's pay button; it turns into the order's confirmation."""
    await press(rig, label, message=summary)
    key = (USER, summary["message_id"])
    await rig.telegram.wait_for(lambda t: "Ordered" in t.messages[key]["text"])


def record_jobs(monkeypatch: pytest.MonkeyPatch) -> list[SubmitJob]:
    """Every job handed to an adapter, as the adapter gets it."""
    jobs: list[SubmitJob] = []
    real = submission.submit

    async def recording(adapter: VideoProvider, job: SubmitJob) -> Submitted:
        jobs.append(job)
        return await real(adapter, job)

    monkeypatch.setattr(submission, "submit", recording)
    return jobs


async def narrow_summary(rig: Rig, *settings: str) -> dict[str, Any]:
    """/generate → Narrow → text → the given setting buttons → a description; the summary."""
    await rig.telegram.send_text(USER, "/generate")
    models = await screen(rig, "Choose a model")
    modes = await tap(rig, data_of(models, "Narrow"))
    message = await tap(rig, data_of(modes, "Text"))
    for label in settings:
        message = await tap(rig, next(d for text, d in buttons(message) if text.removeprefix("✅ ") == label))
    await tap(rig, data_of(message, "Continue"))
    await screen(rig, "Describe the video")
    await rig.telegram.send_text(USER, "a paper boat on a river")
    return await screen(rig, "📋")


async def send(rig: Rig, text: str | None = None, *, photo: bytes | None = None) -> dict[str, Any]:
    """Send a text or photo on a wizard step; the wizard message the bot sends in answer."""
    before = (wizard(rig.telegram) or {}).get("message_id")
    if photo is not None:
        await rig.telegram.send_photo(USER, photo)
    else:
        assert text is not None
        await rig.telegram.send_text(USER, text)
    return await rig.telegram.wait_for(
        lambda t: m if (m := wizard(t)) is not None and m["message_id"] != before else None
    )


async def forge(rig: Rig, message: dict[str, Any], data: str) -> str:
    """Press a button the bot never showed (a client can send any callback data) under `message`, which
    then shows its own buttons again; the answer's text."""
    key = (USER, message["message_id"])
    shown = rig.telegram.messages[key]
    forged = {"inline_keyboard": [[{"text": "forged", "callback_data": data}]]}
    rig.telegram.messages[key] = {**shown, "reply_markup": forged}
    query = await rig.telegram.press(USER, message["message_id"], data)
    await rig.telegram.wait_for(lambda t: t.answered(query))
    rig.telegram.messages[key] = shown
    return str(rig.telegram.callback_answers[query].get("text", ""))


def option_labels(message: dict[str, Any]) -> list[str]:
    return [text for text, data in buttons(message) if ":option:" in data]


async def test_options_show_where_a_route_takes_them_and_reach_only_routes_that_do(
    rig: Rig, polling: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """8 s 9:16 goes to OpenAI (takes a seed) or LaoZhang (takes a negative prompt); 4 s only to OpenAI.
    With both set, OpenAI is tried first and gets only the seed; when it refuses, LaoZhang gets only the
    negative prompt. Bad input on either step is answered with what to send."""
    await rig.fund(USER, 100)
    jobs = record_jobs(monkeypatch)
    short = await narrow_summary(rig)
    assert option_labels(short) == ["🎲 Fixed seed"]
    await press(rig, "Cancel")

    summary = await narrow_summary(rig, "8 s", "9:16")
    assert option_labels(summary) == ["🚫 Negative prompt", "🎲 Fixed seed"], "off by default, in order"
    await tap(rig, data_of(summary, "Negative prompt"))
    await screen(rig, "What should the video not show?")
    message = await send(rig, "x" * 501)
    assert "⚠️ The negative prompt is too long: at most 500 characters." in message["text"]
    message = await send(rig, photo=jpeg())
    assert "⚠️ Please send the negative prompt as a text message." in message["text"]
    summary = await send(rig, "blur, text")
    assert "Negative prompt: blur, text" in summary["text"]
    assert "✅ 🚫 Negative prompt" in option_labels(summary)

    await tap(rig, data_of(summary, "Fixed seed"))
    await screen(rig, "Send a seed")
    for bad in ("abc", "-5", "1.5", "١٢", str(SEED_MAX + 1)):
        message = await send(rig, bad)
        assert f"⚠️ The seed must be a whole number from 0 to {SEED_MAX:,}." in message["text"], bad
        assert "Send a seed" in message["text"]
    summary = await send(rig, "42")
    assert "Seed: 42" in summary["text"]
    assert option_labels(summary) == ["✅ 🚫 Negative prompt", "✅ 🎲 Fixed seed"]

    rig.openai.fail_next("create", 401, message="invalid key")  # OpenAI fails over to LaoZhang
    await pay(rig, summary, "Pay 10 credits")
    [generation] = await rig.store.list_user_generations(USER, limit=5)
    assert (generation.request["negative_prompt"], generation.request["seed"]) == ("blur, text", 42)
    await rig.settle(generation.id)
    assert [(j.route.provider, j.request.seed, j.request.negative_prompt) for j in jobs] == [
        ("openai", 42, None),
        ("laozhang", None, "blur, text"),
    ]
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED and done.route_provider == "laozhang"
    assert await rig.balance() == 90
    assert await rig.violations() == []


async def test_a_toggle_can_be_turned_off_and_an_option_no_route_takes_never_shows(
    rig: Rig, polling: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tidy has a negative prompt, but its only route does not take one; enhancement and translation are
    on/off, off by default, and the order carries what was left on."""
    await rig.fund(USER, 100)
    jobs = record_jobs(monkeypatch)
    await rig.telegram.send_text(USER, "/generate")
    models = await screen(rig, "Choose a model")
    await tap(rig, data_of(models, "Tidy"))
    await screen(rig, "Describe the video")
    await rig.telegram.send_text(USER, "a lantern in the fog")
    summary = await screen(rig, "📋")
    assert option_labels(summary) == ["✨ Improve the description", "🌐 Translate the description to English"]
    summary = await tap(rig, data_of(summary, "Improve"))
    summary = await tap(rig, data_of(summary, "Translate"))
    assert "The provider translates the description to English first." in summary["text"]
    summary = await tap(rig, data_of(summary, "Translate"))  # and off again
    assert option_labels(summary) == [
        "✅ ✨ Improve the description",
        "🌐 Translate the description to English",
    ]
    assert "translates" not in summary["text"] and "improves the description" in summary["text"]
    tag = data_of(summary, "Improve").split(":")[1]
    answer = await forge(rig, summary, f"wz:{tag}:option:negative_prompt")
    assert "not available" in answer, "the model has a negative prompt, but no route of it takes one"

    await pay(rig, summary, "Pay 5 credits")
    [generation] = await rig.store.list_user_generations(USER, limit=5)
    assert (generation.request["enhance_prompt"], generation.request["translate_prompt"]) == (True, False)
    await rig.settle(generation.id)
    [job] = jobs
    assert (job.request.enhance_prompt, job.request.translate_prompt, job.request.negative_prompt) == (
        True,
        False,
        None,
    )
    assert (await rig.get(generation.id)).status is GenerationStatus.DELIVERED
    assert await rig.balance() == 95
    assert await rig.violations() == []


async def library_item(rig: Rig, generation: Generation) -> dict[str, Any]:
    """Open a generation from /library; the message the bot sent for it."""
    sent = len(rig.telegram.requests)
    await rig.telegram.send_text(USER, "/library")
    listing = await rig.telegram.wait_for(
        lambda t: [c for c in t.requests[sent:] if c.method == "sendMessage" and c.ok]
    )
    library = int(listing[0].result["message_id"])
    query = await rig.telegram.press(USER, library, f"la:open:{generation.id}")
    await rig.telegram.wait_for(lambda t: t.answered(query))
    media = await rig.telegram.wait_for(
        lambda t: [c for c in t.requests[sent:] if c.method == "sendVideo" and c.ok]
    )
    return media[0].result


def actions(message: dict[str, Any]) -> list[str]:
    return [data.split(":")[1] for _, data in buttons(message)]


async def test_extend_and_remix_are_offered_only_where_the_videos_provider_can(
    rig: Rig, polling: None
) -> None:
    """Cont remixes through OpenAI and extends through LaoZhang: a video made on OpenAI offers remix only,
    one made on LaoZhang extend only; a forged button is refused, an offered one is ordered and paid."""
    await rig.fund(USER, 100)
    on_openai = await rig.order("a fox in the snow", model="cont")
    await rig.settle(on_openai.id)
    rig.openai.fail_next("create", 401, message="invalid key")
    on_laozhang = await rig.order("an owl at night", model="cont")
    await rig.settle(on_laozhang.id)
    assert [(await rig.get(g.id)).route_provider for g in (on_openai, on_laozhang)] == ["openai", "laozhang"]

    item = await library_item(rig, await rig.get(on_laozhang.id))
    assert actions(item) == ["regen", "extend", "del"]
    assert "cannot do that" in await forge(rig, item, f"la:remix:{on_laozhang.id}")

    item = await library_item(rig, await rig.get(on_openai.id))
    assert actions(item) == ["regen", "remix", "del"]
    assert "cannot do that" in await forge(rig, item, f"la:extend:{on_openai.id}")
    query = await rig.telegram.press(USER, item["message_id"], f"la:remix:{on_openai.id}")
    await rig.telegram.wait_for(lambda t: t.answered(query))
    await screen(rig, "Describe the video")
    await rig.telegram.send_text(USER, "make it autumn")
    summary = await screen(rig, "📋")
    assert "Cont · 🔀 Remix" in summary["text"]
    await pay(rig, summary, "Pay 10 credits")
    remix = next(g for g in await rig.store.list_user_generations(USER, limit=5) if g.mode == "remix")
    await rig.settle(remix.id)
    remixed = await rig.get(remix.id)
    assert remixed.status is GenerationStatus.DELIVERED and remixed.route_provider == "openai"
    assert await rig.balance() == 70
    assert await rig.violations() == []
