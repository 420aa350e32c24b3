"""The wizard's screens: the text and buttons of each step for a draft, in the user's language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import Translator
from bot.wizard.callbacks import WizardGo, WizardPick
from bot.wizard.draft import (
    SETTING_FIELDS,
    Draft,
    Step,
    before,
    changeable,
    choices,
    encode_value,
    offered_options,
    setting_options,
    step_done,
    variant_choices,
    wizard_modes,
)
from services.catalog import SOURCE_MODES, AvailableModel, Option
from services.generations import GenerationService
from services.pricing import cheapest, stars_for
from services.settings import Settings
from services.validation import Problem

#: The prompt excerpt on the summary: Fluent turns a placeable over 2,500 characters into "{???}".
PROMPT_EXCERPT = 300
#: Buttons per row for a setting's values.
ROW_WIDTH = 4
#: Telegram Stars invoices take 1 to 10,000 Stars.
MAX_INVOICE_STARS = 10_000


@dataclass(frozen=True, slots=True)
class View:
    """What every screen needs: the user's language, the catalog's offers and the settings."""

    lang: str
    translator: Translator
    generations: GenerationService
    settings: Settings

    def t(self, key: str, **params: Any) -> str:
        return self.translator(self.lang, key, **params)

    def problems(self, problems: list[Problem]) -> str:
        return "\n".join(self.t(p.key, **self.named(p.params)) for p in problems)

    def named(self, params: dict[str, str | int]) -> dict[str, str | int]:
        """A problem's params with the mode code (t2v, fl2v …) replaced by the mode's translated name."""
        if "mode" not in params:
            return params
        return {**params, "mode": self.t(f"mode-{params['mode']}")}

    def offer(self, draft: Draft) -> AvailableModel | None:
        """The draft's model with the routes it can go to: for an extend or remix, only those of the
        provider that made the source (submission sends it nowhere else)."""
        offer = self.generations.offer(draft.model_key or "")
        if offer is None or draft.mode not in SOURCE_MODES:
            return offer
        return offer.through(draft.source_provider)

    def stars(self, credits: int) -> int:
        return stars_for(credits, self.settings.stars_per_credit)


def excerpt(text: str, limit: int = PROMPT_EXCERPT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render(
    view: View, draft: Draft, step: Step, notice: str | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    """The screen of `step`, with `notice` (an error or a hint) on top."""
    offer = view.offer(draft)
    keyboard = InlineKeyboardBuilder()
    if offer is None or step == "model":
        text = _models(view, draft, keyboard)
    else:
        text = _SCREENS[step](view, draft, offer, keyboard)
    _navigation(view, draft, offer, step, keyboard)
    if notice:
        text = f"⚠️ {notice}\n\n{text}"
    return text, keyboard.as_markup()


def _pick(draft: Draft, field: str, value: str) -> str:
    return WizardPick(draft=draft.tag, field=field, value=value).pack()


def _go(draft: Draft, to: str) -> str:
    return WizardGo(draft=draft.tag, to=to).pack()


def _mark(label: str, selected: bool) -> str:
    return f"✅ {label}" if selected else label


def _models(view: View, draft: Draft, keyboard: InlineKeyboardBuilder) -> str:
    for key, offer in view.generations.offers.items():
        if not wizard_modes(offer):
            continue
        label = view.t("wizard-model-button", model=offer.model.name, price=cheapest(offer))
        keyboard.row(
            InlineKeyboardButton(
                text=_mark(label, key == draft.model_key), callback_data=_pick(draft, "model", key)
            )
        )
    return view.t("wizard-choose-model")


def _modes(view: View, draft: Draft, offer: AvailableModel, keyboard: InlineKeyboardBuilder) -> str:
    for mode in wizard_modes(offer):
        label = _mark(view.t(f"wizard-mode-{mode}"), mode == draft.mode)
        keyboard.row(InlineKeyboardButton(text=label, callback_data=_pick(draft, "mode", mode)))
    return view.t("wizard-choose-mode", model=offer.model.name)


def _setting_label(view: View, setting: str, value: Any) -> str:
    if setting == "duration":
        return view.t("wizard-seconds", seconds=value)
    if setting == "audio":
        return view.t("wizard-audio-on" if value else "wizard-audio-off")
    return str(value)


def _settings(view: View, draft: Draft, offer: AvailableModel, keyboard: InlineKeyboardBuilder) -> str:
    """One row per setting with a choice, in CHOICE_ORDER: each offers what can be made with the rows
    above it."""
    current = choices(draft.values, offer.model)
    for setting, options in setting_options(offer, draft.values).items():
        if len(options) < 2:
            continue
        buttons = [
            InlineKeyboardButton(
                text=_mark(_setting_label(view, setting, option), option == current[SETTING_FIELDS[setting]]),
                callback_data=_pick(draft, setting, encode_value(option)),
            )
            for option in options
        ]
        for start in range(0, len(buttons), ROW_WIDTH):
            keyboard.row(*buttons[start : start + ROW_WIDTH])
    keyboard.row(InlineKeyboardButton(text=view.t("wizard-next"), callback_data=_go(draft, "next")))
    name = offer.model.name
    return view.t("wizard-choose-settings", model=name, mode=view.t(f"wizard-mode-{draft.mode}"))


def _image(
    view: View, draft: Draft, offer: AvailableModel, keyboard: InlineKeyboardBuilder, step: Step
) -> str:
    model = offer.model
    max_mb = f"{view.settings.max_image_mb:g}"
    count = len(draft.values.get("reference_images") or ())
    if step_done(draft, model, step):
        keep = "wizard-refs-done" if step == "refs" else "wizard-keep-image"
        keyboard.row(InlineKeyboardButton(text=view.t(keep), callback_data=_go(draft, "next")))
    if step == "refs":
        return view.t("wizard-send-refs", max=model.max_reference_images, count=count, max_mb=max_mb)
    return view.t(f"wizard-send-{step}", max_mb=max_mb)


def _first(view: View, draft: Draft, offer: AvailableModel, keyboard: InlineKeyboardBuilder) -> str:
    return _image(view, draft, offer, keyboard, "first")


def _last(view: View, draft: Draft, offer: AvailableModel, keyboard: InlineKeyboardBuilder) -> str:
    return _image(view, draft, offer, keyboard, "last")


def _refs(view: View, draft: Draft, offer: AvailableModel, keyboard: InlineKeyboardBuilder) -> str:
    return _image(view, draft, offer, keyboard, "refs")


def _prompt(view: View, draft: Draft, offer: AvailableModel, keyboard: InlineKeyboardBuilder) -> str:
    text = view.t("wizard-enter-prompt", max=offer.model.prompt_max)
    if step_done(draft, offer.model, "prompt"):
        keyboard.row(
            InlineKeyboardButton(text=view.t("wizard-keep-prompt"), callback_data=_go(draft, "next"))
        )
        text += "\n\n" + view.t("wizard-current-prompt", prompt=excerpt(draft.prompt))
    return text


def _summary(view: View, draft: Draft, offer: AvailableModel, keyboard: InlineKeyboardBuilder) -> str:
    request = draft.request()
    assert request is not None
    model = offer.model
    full = request.with_defaults(model)
    images = int(full.first_frame is not None) + int(full.last_frame is not None) + len(full.reference_images)
    lines = [
        view.t("wizard-summary-title"),
        view.t("wizard-summary-model", model=model.name, mode=view.t(f"wizard-mode-{full.mode}")),
        view.t(
            "wizard-summary-settings",
            duration=view.t("wizard-seconds", seconds=full.duration),
            aspect=full.aspect_ratio or "",
            resolution=full.resolution or "",
            audio=view.t("wizard-audio-on" if full.audio else "wizard-audio-off"),
        ),
    ]
    if images:
        lines.append(view.t("wizard-summary-images", count=images))
    lines.append(view.t("wizard-summary-prompt", prompt=excerpt(full.prompt)))
    lines.extend(_option_lines(view, full.chosen_options(), draft))
    chosen = set(full.chosen_options())
    for option in offered_options(draft, offer):
        label = _mark(view.t(f"wizard-option-{_dashed(option)}"), option in chosen)
        keyboard.row(InlineKeyboardButton(text=label, callback_data=_pick(draft, "option", option)))
    problems = view.generations.check(request)
    price = view.generations.price(request)
    if problems or price is None:
        lines += ["", view.problems(problems)]
    else:
        count, total = draft.variants, price * draft.variants
        lines += _variants(view, draft, keyboard)
        if count == 1:
            price_line = view.t("wizard-summary-price", price=price)
        else:
            price_line = view.t("wizard-summary-price-variants", price=price, count=count, total=total)
        lines += ["", price_line]
        pay = view.t("wizard-pay-credits", price=total)
        keyboard.row(InlineKeyboardButton(text=pay, callback_data=_go(draft, "pay")))
        stars = view.stars(total)
        if stars <= MAX_INVOICE_STARS:
            label = view.t("wizard-pay-stars", stars=stars)
            keyboard.row(InlineKeyboardButton(text=label, callback_data=_go(draft, "stars")))
    keyboard.row(InlineKeyboardButton(text=view.t("wizard-change"), callback_data=_go(draft, "change")))
    return "\n".join(lines)


def _variants(view: View, draft: Draft, keyboard: InlineKeyboardBuilder) -> list[str]:
    """The "Variants" row: how many videos of this request to order at once (none to choose when only
    one may be in progress)."""
    choices = variant_choices(view.settings.max_active_generations)
    if len(choices) < 2:
        return []
    keyboard.row(
        *(
            InlineKeyboardButton(
                text=_mark(str(count), count == draft.variants),
                callback_data=_pick(draft, "variants", str(count)),
            )
            for count in choices
        )
    )
    return [view.t("wizard-summary-variants", count=draft.variants)]


def _dashed(option: Option) -> str:
    return option.replace("_", "-")


def _option_lines(view: View, options: list[Option], draft: Draft) -> list[str]:
    """What the summary says about the options that are on; the buttons below show them too."""
    values = draft.values
    lines = []
    for option in options:
        if option == "negative_prompt":
            lines.append(view.t("wizard-summary-negative", prompt=excerpt(str(values[option]))))
        elif option == "seed":
            lines.append(view.t("wizard-summary-seed", id=str(values[option])))
        else:
            lines.append(view.t(f"wizard-summary-{_dashed(option)}"))
    return lines


def _negative(view: View, draft: Draft, offer: AvailableModel, keyboard: InlineKeyboardBuilder) -> str:
    return view.t("wizard-enter-negative")


def _seed(view: View, draft: Draft, offer: AvailableModel, keyboard: InlineKeyboardBuilder) -> str:
    label = view.t("wizard-seed-random")
    keyboard.row(InlineKeyboardButton(text=label, callback_data=_pick(draft, "seed", "random")))
    return view.t("wizard-enter-seed")


def _change(view: View, draft: Draft, offer: AvailableModel, keyboard: InlineKeyboardBuilder) -> str:
    for step in changeable(draft, offer):
        label = view.t(f"wizard-change-{step}")
        keyboard.row(InlineKeyboardButton(text=label, callback_data=_go(draft, step)))
    return view.t("wizard-change-what")


_SCREENS = {
    "mode": _modes,
    "settings": _settings,
    "first": _first,
    "last": _last,
    "refs": _refs,
    "prompt": _prompt,
    "summary": _summary,
    "change": _change,
    "negative": _negative,
    "seed": _seed,
}


def _navigation(
    view: View, draft: Draft, offer: AvailableModel | None, step: Step, keyboard: InlineKeyboardBuilder
) -> None:
    """Back (where there is somewhere to go back to) and cancel, under every step."""
    buttons = []
    if before(draft, offer, step) is not None:
        buttons.append(InlineKeyboardButton(text=view.t("wizard-back"), callback_data=_go(draft, "back")))
    buttons.append(InlineKeyboardButton(text=view.t("wizard-cancel"), callback_data=_go(draft, "cancel")))
    keyboard.row(*buttons)
