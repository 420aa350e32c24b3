"""The generation wizard: /generate or the menu's "generate" → model → mode → settings → images → prompt
→ summary → pay with credits or with Stars. One message, edited in place on button presses and sent
anew after the user's own messages (so it stays at the bottom of the chat).

Handlers get the draft from the `CurrentDraft` filter (bot/wizard/session.py): a press on any other
message, or with forged data, reaches `stale_press` instead. Every choice is then checked against the
catalog before it is stored. CallbackAnswerMiddleware answers every press once; a handler only sets what
the answer says.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, StateFilter, or_f
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, LabeledPrice, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.callbacks import MenuAction, alert
from bot.handlers.filters import FROM_USER, NOT_PAYMENT, Magic
from bot.notices import order_text, replace_or_send, wizard_request_key
from bot.wizard.callbacks import WizardGo, WizardPick
from bot.wizard.draft import (
    CHANGEABLE,
    INPUT_STEPS,
    OPTION_STEPS,
    SETTING_FIELDS,
    Draft,
    Step,
    after,
    before,
    changeable,
    choose_mode,
    choose_model,
    choose_setting,
    first_open,
    option_on,
    parse_option,
    parse_setting,
    parse_variants,
    preset_values,
    settings_problems,
    step_done,
    toggle_option,
    wizard_modes,
)
from bot.wizard.images import attached_file, receive_image
from bot.wizard.orders import StarsOrders
from bot.wizard.session import CurrentDraft, load, save
from bot.wizard.states import Wizard
from bot.wizard.views import MAX_INVOICE_STARS, View, render
from services.catalog import AvailableModel
from services.generations import Invalid, LimitReached
from services.media import ImageRejected
from services.notices import Notices
from services.payments import CURRENCY
from services.uploads import Uploads
from services.validation import SEED_MAX, negative_prompt_max, parse_seed
from services.video_request import VideoRequest
from storage.records import Generation, GenerationCreated, InsufficientFunds, NoticeKind, notice_key

#: Telegram's limits for an invoice's title and description.
TITLE_MAX, DESCRIPTION_MAX = 32, 255
#: Telegram shows at most 200 characters in a callback answer.
ANSWER_MAX = 200
IMAGE_STEPS = (Wizard.first, Wizard.last, Wizard.refs)
TEXT_STATES = (Wizard.prompt, Wizard.negative, Wizard.seed)


async def open_wizard(
    message: Message,
    state: FSMContext,
    view: View,
    *,
    preset: dict[str, Any],
    source_provider: str | None = None,
) -> None:
    """Start a draft from `preset` and show the first step it leaves open (the summary when complete).

    `message` is any message in the target chat; the wizard is a new message there. A preset naming a
    model that is no longer offered starts at the model list, saying so. An extend or remix names the
    provider that made its source: only that provider's routes can continue it.
    """
    values = preset_values(preset)
    draft = Draft(id=uuid.uuid4().hex, source_provider=source_provider, values=values)
    offer = view.offer(draft)
    notice = None
    if offer is not None:
        values = choose_model(values, offer)
    elif "model" in values:
        notice = view.t("error-model-unavailable")
        values = {"prompt": values["prompt"]} if values.get("prompt") else {}
    draft = draft.model_copy(update={"values": values})
    await state.clear()
    await show_new(message, state, view, draft, first_open(draft, offer), notice)


async def show_new(
    message: Message, state: FSMContext, view: View, draft: Draft, step: Step, notice: str | None = None
) -> None:
    """Send the step as a new wizard message (deleting the previous one) and remember it.

    The draft is stored before any network call and only the message id after, so images of an album
    arriving together all end up in the draft.
    """
    text, markup = render(view, draft, step, notice)
    await save(state, draft, step)
    if draft.message_id is not None and message.bot is not None:
        with contextlib.suppress(TelegramBadRequest):  # already gone, or too old to delete: harmless
            await message.bot.delete_message(message.chat.id, draft.message_id)
    sent = await message.answer(text, reply_markup=markup)
    loaded = await load(state)
    if loaded is not None and loaded[0].id == draft.id:
        shown = loaded[0].model_copy(update={"message_id": sent.message_id})
        await state.update_data(wizard=shown.model_dump(mode="json"))


async def show_here(
    screen: Message, state: FSMContext, view: View, draft: Draft, step: Step, notice: str | None = None
) -> None:
    """Show the step in the pressed wizard message."""
    text, markup = render(view, draft, step, notice)
    await save(state, draft, step)
    with contextlib.suppress(TelegramBadRequest):  # "not modified" after a double tap
        await screen.edit_text(text, reply_markup=markup)


async def generate(message: Message, state: FSMContext, view: View) -> None:
    await open_wizard(message, state, view, preset={})


async def generate_from_menu(query: CallbackQuery, state: FSMContext, view: View) -> None:
    if isinstance(query.message, Message):
        await open_wizard(query.message, state, view, preset={})


async def pick(
    query: CallbackQuery,
    callback_data: WizardPick,
    state: FSMContext,
    callback_answer: CallbackAnswer,
    view: View,
    draft: Draft,
    step: Step,
    screen: Message,
) -> None:
    """A model, mode, setting or option button: checked against what the offer can make, then stored."""
    field, raw = callback_data.field, callback_data.value
    offer = view.offer(draft)
    unavailable = view.t("wizard-option-unavailable")
    if field == "model" and step == "model":
        chosen_offer = view.generations.offer(raw)
        if chosen_offer is None or not wizard_modes(chosen_offer):
            callback_answer.text = unavailable
            return
        chosen = draft.model_copy(update={"values": choose_model(draft.values, chosen_offer)})
        await show_here(screen, state, view, chosen, after(chosen, chosen_offer, "model"))
    elif field == "mode" and step == "mode" and offer is not None:
        if raw not in wizard_modes(offer):
            callback_answer.text = unavailable
            return
        chosen = draft.model_copy(update={"values": choose_mode(draft.values, raw, offer)})
        await show_here(screen, state, view, chosen, after(chosen, offer, "mode"))
    elif field in SETTING_FIELDS and step == "settings" and offer is not None:
        value = parse_setting(offer, draft.values, field, raw)
        if value is None:
            callback_answer.text = unavailable
            return
        values = choose_setting(draft.values, field, value, offer)
        await show_here(screen, state, view, draft.model_copy(update={"values": values}), "settings")
    elif field == "option" and step == "summary" and offer is not None:
        await pick_option(callback_answer, view, draft, offer, raw, state, screen)
    elif field == "variants" and step == "summary" and offer is not None:
        count = parse_variants(raw, view.settings.max_active_generations)
        if count is None:
            callback_answer.text = unavailable
            return
        await show_here(screen, state, view, draft.model_copy(update={"variants": count}), "summary")
    elif field == "seed" and raw == "random" and step == "seed":
        values = {k: v for k, v in draft.values.items() if k != "seed"}
        await show_here(screen, state, view, draft.model_copy(update={"values": values}), "summary")
    else:
        callback_answer.text = view.t("wizard-stale")


async def pick_option(
    callback_answer: CallbackAnswer,
    view: View,
    draft: Draft,
    offer: AvailableModel,
    raw: str,
    state: FSMContext,
    screen: Message,
) -> None:
    """An option on the summary: on/off, or the step that asks for its value (negative prompt, seed)."""
    option = parse_option(draft, offer, raw)
    if option is None:
        callback_answer.text = view.t("wizard-option-unavailable")
        return
    if option in OPTION_STEPS and not option_on(draft.values, option):
        await show_here(screen, state, view, draft, OPTION_STEPS[option])
        return
    values = toggle_option(draft.values, option)
    await show_here(screen, state, view, draft.model_copy(update={"values": values}), "summary")


async def navigate(
    query: CallbackQuery,
    callback_data: WizardGo,
    state: FSMContext,
    callback_answer: CallbackAnswer,
    view: View,
    draft: Draft,
    step: Step,
    screen: Message,
) -> None:
    """Next, back, the change menu and its entries; a button the step does not show is refused."""
    offer = view.offer(draft)
    to = callback_data.to
    target: Step | None = None
    if to == "back":
        target = before(draft, offer, step)
        if target != "change":
            draft = draft.model_copy(update={"editing": False})
    elif to == "next" and offer is not None and (step == "settings" or step in INPUT_STEPS):
        problems = settings_problems(draft, offer) if step == "settings" else []
        if problems:
            alert(callback_answer, view.problems(problems)[:ANSWER_MAX])
            return
        if step_done(draft, offer.model, step):
            target = after(draft, offer, step)
    elif to == "change" and step == "summary" and offer is not None:
        target = "change"
    elif to in CHANGEABLE and step == "change" and offer is not None and to in changeable(draft, offer):
        target = to  # type: ignore[assignment]
        draft = draft.model_copy(update={"editing": True})
    if target is None:
        callback_answer.text = view.t("wizard-option-unavailable")
        return
    await show_here(screen, state, view, draft, target)


async def cancel(query: CallbackQuery, state: FSMContext, view: View, screen: Message) -> None:
    await state.clear()
    with contextlib.suppress(TelegramBadRequest):
        await screen.edit_text(view.t("wizard-cancelled"), reply_markup=None)


async def pay_with_credits(
    query: CallbackQuery,
    state: FSMContext,
    bot: Bot,
    callback_answer: CallbackAnswer,
    view: View,
    notices: Notices,
    draft: Draft,
    step: Step,
    screen: Message,
) -> None:
    """Order and debit at once; the press (draft and summary message) is the request key, so a double
    tap orders once. The confirmation replacing the summary is the order's notice (bot/notices.py): a
    kill right after the debit still turns the summary and its Pay button into it, after the restart."""
    request = draft.request()
    if step != "summary" or request is None:
        callback_answer.text = view.t("wizard-option-unavailable")
        return
    key = wizard_request_key(query.from_user.id, draft.id, screen.message_id)
    if draft.variants > 1:
        await pay_variants(
            state, bot, view, notices, draft, request, screen, user_id=query.from_user.id, key=key
        )
        return
    result = await view.generations.create(
        user_id=query.from_user.id, chat_id=screen.chat.id, request=request, request_key=key
    )
    if isinstance(result, GenerationCreated):
        await state.clear()
        model = view.generations.model_name(request.model)
        text = order_text(view.t, result.generation, balance=result.balance, model=model)
        confirm = partial(replace_or_send, bot, screen.chat.id, screen.message_id, text)
        # the second of two taps finds it told already
        await notices.send_now(notice_key(NoticeKind.ORDER, result.generation.id), confirm)
        return
    notice = refusal(view, result)
    if isinstance(result, InsufficientFunds):
        notice += "\n" + view.t("wizard-stars-hint")
    await show_here(screen, state, view, draft, "summary", notice)


def refusal(view: View, result: InsufficientFunds | Invalid | LimitReached, count: int = 1) -> str:
    """Why an order (of `count` videos) was not placed, in the user's words."""
    if isinstance(result, InsufficientFunds):
        return view.t(
            "insufficient-funds", price=result.required, balance=result.balance, shortfall=result.shortfall
        )
    if isinstance(result, LimitReached) and count > 1:
        return view.t(f"wizard-variants-limit-{result.kind}", limit=result.limit, count=count)
    if isinstance(result, LimitReached):
        return view.t(f"wizard-limit-{result.kind}", limit=result.limit)
    return view.problems(result.problems)


async def pay_variants(
    state: FSMContext,
    bot: Bot,
    view: View,
    notices: Notices,
    draft: Draft,
    request: VideoRequest,
    screen: Message,
    *,
    user_id: int,
    key: str,
) -> None:
    """The summary's variants (GenerationService.create_variants): one message in place of the summary
    confirms them all, or says how many were placed and why not the rest; a refusal before any is
    shown on the summary, like a single order's."""
    count = draft.variants
    results = await view.generations.create_variants(
        user_id=user_id, chat_id=screen.chat.id, request=request, count=count, request_key=key
    )
    placed = [r for r in results if isinstance(r, GenerationCreated)]
    reason = next((r for r in results if not isinstance(r, GenerationCreated)), None)
    if not placed:
        assert reason is not None
        notice = refusal(view, reason, count)
        if isinstance(reason, InsufficientFunds):
            notice += "\n" + view.t("wizard-variants-stars-hint")
        await show_here(screen, state, view, draft, "summary", notice)
        return
    await state.clear()
    generations = [r.generation for r in placed]
    spent = sum(g.cost for g in generations)
    model = view.generations.model_name(request.model)
    balance = placed[-1].balance
    if reason is None:
        price = generations[0].cost
        text = view.t(
            "wizard-variants-started", count=count, model=model, price=price, total=spent, balance=balance
        )
    else:
        text = view.t(
            "wizard-variants-partial",
            placed=len(placed),
            count=count,
            model=model,
            total=spent,
            balance=balance,
            reason=refusal(view, reason, count - len(placed)),
        )
    confirm = partial(replace_or_send, bot, screen.chat.id, screen.message_id, text)
    await confirm_orders(notices, generations, confirm)


async def confirm_orders(
    notices: Notices, generations: list[Generation], send: Callable[[], Awaitable[None]]
) -> None:
    """One message tells several orders (variants): it goes out as the first one's notice, and the
    others' are settled once it did; if it cannot go out, the notice job tells each on its own. The
    second of two taps finds them told already."""
    first, *others = generations

    async def tell() -> None:
        await send()
        for other in others:
            await notices.settle(notice_key(NoticeKind.ORDER, other.id))

    await notices.send_now(notice_key(NoticeKind.ORDER, first.id), tell)


async def pay_with_stars(
    query: CallbackQuery,
    state: FSMContext,
    bot: Bot,
    callback_answer: CallbackAnswer,
    view: View,
    draft: Draft,
    step: Step,
    screen: Message,
) -> None:
    """An invoice for exactly this generation's price (for variants, their total in one invoice); the
    order is a snapshot, so later changes to the draft cannot change what a paid invoice buys. A ban or
    a refused prompt is said before any invoice, so nobody pays Stars for an order that would be refused."""
    generations = view.generations
    request = draft.request()
    price = None if request is None or generations.check(request) else generations.price(request)
    count = draft.variants
    stars = None if price is None else view.stars(price * count)
    if step != "summary" or request is None or price is None or stars is None or stars > MAX_INVOICE_STARS:
        callback_answer.text = view.t("wizard-option-unavailable")
        return
    refused = await generations.screen(query.from_user.id, request)
    if refused:
        await show_here(screen, state, view, draft, "summary", view.problems(refused))
        return
    total = price * count
    order = await StarsOrders(state, query.from_user.id).add(
        credits=total, stars=stars, request=request.model_dump(mode="json"), draft_id=draft.id, count=count
    )
    model = generations.model_name(request.model)
    if count == 1:
        title = view.t("invoice-generation-title", credits=total)
        description = view.t("invoice-generation-description", model=model, credits=total, stars=stars)
    else:  # one invoice for them all
        title = view.t("invoice-variants-title", count=count, credits=total)
        description = view.t(
            "invoice-variants-description", count=count, model=model, credits=total, stars=stars
        )
    title = title[:TITLE_MAX]
    await bot.send_invoice(
        chat_id=screen.chat.id,
        title=title,
        description=description[:DESCRIPTION_MAX],
        payload=order.payload,
        currency=CURRENCY,
        prices=[LabeledPrice(label=title, amount=stars)],
    )


async def stale_press(query: CallbackQuery, callback_answer: CallbackAnswer, view: View) -> None:
    """A wizard button on a message that is not the current draft's: an old wizard, or forged data."""
    callback_answer.text = view.t("wizard-stale")


async def close_wizard(state: FSMContext, bot: Bot, *, chat_id: int, draft_id: str) -> None:
    """After a Stars payment: end the wizard it was paid from, if it is still open, removing its buttons."""
    loaded = await load(state)
    if loaded is None or loaded[0].id != draft_id:
        return
    await state.clear()
    if loaded[0].message_id is not None:
        with contextlib.suppress(TelegramBadRequest):
            await bot.edit_message_reply_markup(chat_id=chat_id, message_id=loaded[0].message_id)


async def image_sent(
    message: Message,
    state: FSMContext,
    bot: Bot,
    uploads: Uploads,
    view: View,
    draft: Draft,
    step: Step,
) -> None:
    """A photo or image file on an image step: checked, stored, and the wizard moves on."""
    attached = attached_file(message)
    if attached is None or message.from_user is None:
        return
    offer = view.offer(draft)
    try:
        ref = await receive_image(
            bot, uploads, user_id=message.from_user.id, file_id=attached[0], size=attached[1]
        )
    except ImageRejected as rejected:
        await show_new(message, state, view, draft, step, view.t(rejected.reason_key, **rejected.params))
        return
    except TelegramAPIError:
        await show_new(message, state, view, draft, step, view.t("wizard-image-download-failed"))
        return
    fresh = await load(state)  # other images of an album may have arrived meanwhile
    if fresh is None or fresh[0].id != draft.id or fresh[1] not in ("first", "last", "refs") or offer is None:
        return
    draft, step = fresh
    model = offer.model
    values = dict(draft.values)
    if step == "refs":
        refs = [*values.get("reference_images", ()), ref.model_dump(mode="json")]
        values["reference_images"] = refs[: model.max_reference_images]
    else:
        values["first_frame" if step == "first" else "last_frame"] = ref.model_dump(mode="json")
    draft = draft.model_copy(update={"values": values})
    full = step == "refs" and len(values["reference_images"]) >= model.max_reference_images
    await show_new(
        message, state, view, draft, step if step == "refs" and not full else after(draft, offer, step)
    )


async def prompt_sent(message: Message, state: FSMContext, view: View, draft: Draft, step: Step) -> None:
    """The description: within the model's limit, else the step again with the reason."""
    if message.text is None:
        return
    offer = view.offer(draft)
    prompt = message.text.strip()
    if offer is None:
        await show_new(message, state, view, draft, "model")
    elif not prompt:
        await show_new(message, state, view, draft, step, view.t("error-prompt-empty"))
    elif len(prompt) > offer.model.prompt_max:
        notice = view.t("error-prompt-too-long", length=len(prompt), max=offer.model.prompt_max)
        await show_new(message, state, view, draft, step, notice)
    else:
        draft = draft.model_copy(update={"values": {**draft.values, "prompt": prompt}})
        await show_new(message, state, view, draft, after(draft, offer, step))


async def negative_sent(message: Message, state: FSMContext, view: View, draft: Draft, step: Step) -> None:
    """The negative prompt: within its limit, else the step again saying so; then the summary."""
    if message.text is None:
        return
    offer = view.offer(draft)
    negative = message.text.strip()
    if offer is None:
        await show_new(message, state, view, draft, "model")
    elif not negative:
        await show_new(message, state, view, draft, step, view.t("wizard-expects-negative"))
    elif len(negative) > negative_prompt_max(offer.model):
        notice = view.t("error-negative-prompt-too-long", max=negative_prompt_max(offer.model))
        await show_new(message, state, view, draft, step, notice)
    else:
        draft = draft.model_copy(update={"values": {**draft.values, "negative_prompt": negative}})
        await show_new(message, state, view, draft, "summary")


async def seed_sent(message: Message, state: FSMContext, view: View, draft: Draft, step: Step) -> None:
    """The seed: a whole number in range, else the step again with the range; then the summary."""
    if message.text is None:
        return
    seed = parse_seed(message.text)
    if seed is None:
        await show_new(message, state, view, draft, step, view.t("error-seed-range", max=SEED_MAX))
        return
    draft = draft.model_copy(update={"values": {**draft.values, "seed": seed}})
    await show_new(message, state, view, draft, "summary")


async def wrong_input(message: Message, state: FSMContext, view: View, draft: Draft, step: Step) -> None:
    """Something else than the step asks for: show the step again with a hint."""
    if step == "seed":
        hint = view.t("error-seed-range", max=SEED_MAX)
    elif step == "negative":
        hint = view.t("wizard-expects-negative")
    else:
        hint = view.t("wizard-expects-text" if step == "prompt" else "wizard-expects-image")
    await show_new(message, state, view, draft, step, hint)


def build_router() -> Router:
    """A fresh router per Dispatcher. Commands are handled by earlier routers; the prompt handler
    ignores texts starting with "/" so they still reach them."""
    router = Router(name="wizard")
    draft = CurrentDraft()
    not_command = Magic(~F.text.startswith("/"))
    router.message.register(generate, Command("generate"), FROM_USER)
    router.callback_query.register(generate_from_menu, MenuAction.filter(F.action == "generate"))
    router.callback_query.register(cancel, WizardGo.filter(F.to == "cancel"), draft)
    router.callback_query.register(pay_with_credits, WizardGo.filter(F.to == "pay"), draft)
    router.callback_query.register(pay_with_stars, WizardGo.filter(F.to == "stars"), draft)
    router.callback_query.register(navigate, WizardGo.filter(), draft)
    router.callback_query.register(pick, WizardPick.filter(), draft)
    router.callback_query.register(stale_press, or_f(WizardGo.filter(), WizardPick.filter()))
    router.message.register(
        image_sent, StateFilter(*IMAGE_STEPS), Magic(F.photo | F.document), FROM_USER, draft
    )
    router.message.register(
        prompt_sent, StateFilter(Wizard.prompt), Magic(F.text), not_command, FROM_USER, draft
    )
    router.message.register(
        negative_sent, StateFilter(Wizard.negative), Magic(F.text), not_command, FROM_USER, draft
    )
    router.message.register(seed_sent, StateFilter(Wizard.seed), Magic(F.text), not_command, FROM_USER, draft)
    router.message.register(
        wrong_input,
        StateFilter(*IMAGE_STEPS, *TEXT_STATES),
        not_command,
        NOT_PAYMENT,
        FROM_USER,
        draft,
    )
    return router
