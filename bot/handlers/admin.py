"""Admin commands: /topup, /deduct, /user, /refund, /stats, /audit, /block, /unblock, for the ids in
ADMIN_IDS only.

For anyone else these handlers simply do not match, so the command falls through to the fallback
router and gets the same "unknown command" answer as any other unknown command.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import Message

from bot.delivery import format_elapsed
from bot.formatting import TEXT_LIMIT, when
from bot.handlers.filters import FROM_USER
from bot.i18n import Texts, Translator
from bot.stars import TelegramStars
from services.admin import AdminReports
from services.generations import GenerationService
from services.moderation import Moderation
from services.payments import PayerUnknown, Payments, RefundedUntracked, RefundRejected
from services.routing import RouteHealth, RouteReport
from services.settings import Settings
from services.stats import Margin, by_model, by_status, credit_value_usd, margins, provider_cost
from services.users import MAX_USER_ID, Users, user_ref, whole_number
from services.wallet import Wallet
from storage.records import (
    AlreadyApplied,
    Applied,
    Generation,
    ModerationEvent,
    ModerationSource,
    Payment,
    Stats,
    User,
)

REASON_LIMIT = 200
MAX_ADJUSTMENT = 10_000_000
RECENT = 10
MODELS_SHOWN = 15
#: Audit entries /audit reads; it shows as many of them as one message holds.
AUDIT_SHOWN = 30


class IsAdmin(Filter):
    """Reads ADMIN_IDS from the injected settings on every update, so a settings change applies at once."""

    async def __call__(self, message: Message, settings: Settings) -> bool:
        return message.from_user is not None and message.from_user.id in settings.admin_ids


def label(user: User) -> str:
    return f"@{user.username} ({user.id})" if user.username else str(user.id)


# ------------------------------------------------------------------ balance changes


async def adjust(
    message: Message,
    command: CommandObject,
    bot: Bot,
    users: Users,
    wallet: Wallet,
    t: Texts,
    translator: Translator,
) -> None:
    """One ledger entry keyed on the command message, so a redelivered update is applied once; the user
    hears of it in their own language."""
    assert message.from_user is not None
    kind = command.command  # topup or deduct
    sign = 1 if kind == "topup" else -1
    parts = (command.args or "").split(maxsplit=2)
    ref = user_ref(parts[0]) if parts else None
    amount = whole_number(parts[1], maximum=MAX_ADJUSTMENT) if len(parts) > 1 else None
    if ref is None or amount is None:
        await message.answer(t(f"admin-{kind}-usage", max=MAX_ADJUSTMENT))
        return
    user = await users.find(ref)
    if user is None:
        await message.answer(t("admin-user-not-found", ref=parts[0]))
        return
    reason = parts[2][:REASON_LIMIT] if len(parts) > 2 else None
    outcome = await wallet.admin_adjust(
        admin_id=message.from_user.id,
        operation_id=f"{message.chat.id}:{message.message_id}",
        user_id=user.id,
        delta=sign * amount,
        reason=reason,
    )
    if isinstance(outcome, AlreadyApplied):
        await message.answer(t("admin-already-applied", balance=outcome.balance))
        return
    if not isinstance(outcome, Applied):
        await message.answer(
            t("admin-deduct-too-much", user=label(user), amount=amount, balance=outcome.balance)
        )
        return
    await message.answer(t(f"admin-{kind}-done", user=label(user), amount=amount, balance=outcome.balance))
    notice = translator(user.language, f"admin-notify-{kind}", amount=amount, balance=outcome.balance)
    if reason:
        notice += "\n" + translator(user.language, "admin-notify-reason", reason=reason)
    try:
        await bot.send_message(user.id, notice)
    except (TelegramForbiddenError, TelegramBadRequest):
        await message.answer(t("admin-notify-failed", user=label(user)))


# ------------------------------------------------------------------ /user


async def show_user(
    message: Message,
    command: CommandObject,
    users: Users,
    admin: AdminReports,
    generations: GenerationService,
    t: Texts,
) -> None:
    text = (command.args or "").strip()
    ref = user_ref(text)
    user = None if ref is None else await users.find(ref)
    if user is None:
        key = "admin-user-usage" if ref is None else "admin-user-not-found"
        await message.answer(t(key, ref=text))
        return
    activity = await admin.activity(user.id, limit=RECENT)
    lines = [
        t(
            "admin-user-header",
            user=label(user),
            locale=user.language or "—",
            blocked="yes" if user.blocked else "no",
            since=when(user.created_at),
            balance=user.balance,
        ),
        "",
        t("admin-user-generations" if activity.generations else "admin-user-no-generations"),
        *(generation_line(g, t, generations) for g in activity.generations),
        "",
        t("admin-user-payments" if activity.payments else "admin-user-no-payments"),
        *(payment_line(p, t) for p in activity.payments),
    ]
    await message.answer("\n".join(lines)[:TEXT_LIMIT])


def generation_line(g: Generation, t: Texts, generations: GenerationService) -> str:
    return t(
        "admin-user-generation",
        date=when(g.created_at),
        model=generations.model_name(g.model),
        status=t("library-status", status=g.status.value),
        cost=g.cost,
        id=g.id,
    )


def payment_line(p: Payment, t: Texts) -> str:
    return t(
        "admin-user-payment",
        date=when(p.created_at),
        stars=p.stars,
        credits=p.credits,
        refunded="yes" if p.refunded else "no",
        charge=p.charge_id,
    )


# ------------------------------------------------------------------ /refund


async def refund(
    message: Message, command: CommandObject, bot: Bot, payments: Payments, t: Texts, translator: Translator
) -> None:
    """refundStarPayment, then our books (services/payments.py); a charge we have no record of needs the
    payer's id."""
    parts = (command.args or "").split()
    given = whole_number(parts[1], maximum=MAX_USER_ID) if len(parts) == 2 else None
    if not 1 <= len(parts) <= 2 or (len(parts) == 2 and given is None):
        await message.answer(t("admin-refund-usage"))
        return
    charge = parts[0]
    outcome = await payments.refund(charge, payer=given, telegram=TelegramStars(bot, translator))
    if isinstance(outcome, PayerUnknown):
        text = t("admin-refund-unknown", charge=charge)
    elif isinstance(outcome, RefundRejected):
        if outcome.code == "already-refunded":
            text = t("admin-refund-already", charge=charge)
        elif outcome.code == "not-found":
            text = t("admin-refund-not-found", charge=charge)
        else:
            text = t("admin-refund-failed", charge=charge, error=outcome.error)
    elif isinstance(outcome, RefundedUntracked):
        text = t("admin-refund-done-untracked", charge=charge, user=str(outcome.payer))
    else:
        text = t(
            "admin-refund-done",
            charge=charge,
            stars=outcome.payment.stars,
            debited=outcome.debited,
            credits=outcome.payment.credits,
            balance=outcome.balance,
        )
    await message.answer(text)


# ------------------------------------------------------------------ /stats


async def stats(
    message: Message,
    admin: AdminReports,
    generations: GenerationService,
    t: Texts,
    settings: Settings,
    routing: RouteHealth | None = None,
) -> None:
    """Both periods' figures; then, with the routes' health (the container's `routing`), how each route
    fares now: health is not per period, so it comes once, under the last one."""
    now = datetime.now(UTC)
    periods = (("admin-stats-day", timedelta(hours=24)), ("admin-stats-month", timedelta(days=30)))
    credit_usd = credit_value_usd(((p.credits, p.stars) for p in settings.stars_packs), settings.star_usd)
    blocks = [
        render_stats(await admin.stats(since=now - span), title, t, generations, credit_usd)
        for title, span in periods
    ]
    text = "\n\n".join(blocks)
    if routing is not None:
        text += "\n" + render_health(routing, t)
    await message.answer(text[:TEXT_LIMIT])


def render_stats(
    figures: Stats, title: str, t: Texts, generations: GenerationService, credit_usd: Decimal
) -> str:
    statuses = by_status(figures.generations)
    models = by_model(figures.generations)
    catalog = {key: o.model for key, o in generations.offers.items()}
    cost = provider_cost(figures.generations, catalog)
    status_text = ", ".join(
        f"{t('library-status', status=status.value)}: {count}" for status, count in statuses.items()
    )
    lines = [
        t(title),
        t("admin-stats-generations", total=sum(statuses.values()), statuses=status_text or "—"),
    ]
    for key, total in list(models.items())[:MODELS_SHOWN]:
        name = generations.model_name(key)
        lines.append(t("admin-stats-model", model=name, count=total.count, credits=total.credits))
    if len(models) > MODELS_SHOWN:
        lines.append(t("admin-stats-more-models", count=len(models) - MODELS_SHOWN))
    paid = figures.payments
    lines += [
        t(
            "admin-stats-revenue",
            stars=paid.stars,
            payments=paid.payments,
            refunded_stars=paid.refunded_stars,
            refunded=paid.refunded,
            net=paid.stars - paid.refunded_stars,
        ),
        t("admin-stats-cost", usd=f"{cost.usd:.2f}", unpriced=cost.unpriced, reported=cost.reported),
        t("admin-stats-users", count=figures.new_users),
        t("admin-stats-welcome", credits=figures.welcome_credits, users=figures.welcome_users),
        t("admin-stats-uncertain", count=figures.uncertain_submits),
    ]
    found = margins(figures.generations, catalog, credit_usd)
    if found:
        lines.append(t("admin-stats-margins", credit_usd=f"{credit_usd:.4f}"))
        lines += [margin_line(m, t, generations) for m in found[:MODELS_SHOWN]]
    return "\n".join(lines)


def margin_line(margin: Margin, t: Texts, generations: GenerationService) -> str:
    share = margin.margin_share
    return t(
        "admin-stats-margin",
        model=generations.model_name(margin.model),
        provider=margin.provider or "—",
        count=margin.count,
        revenue=f"{margin.revenue_usd:.2f}",
        cost=f"{margin.cost.usd:.2f}",
        reported=margin.cost.reported,
        margin=f"{margin.margin_usd:.2f}",
        share="—" if share is None else f"{share * 100:.0f}",
    )


def render_health(routing: RouteHealth, t: Texts) -> str:
    """Each route this process has tried: its share of videos and median time to one over the window,
    and whether it is cooling down (and until when) or being tried again after its cool-down."""
    reports = routing.report()
    lines = [t("admin-stats-health", window=routing.window)]
    lines += [route_line(r, t) for r in reports] if reports else [t("admin-stats-health-none")]
    return "\n".join(lines)


def route_line(report: RouteReport, t: Texts) -> str:
    share = report.success_share
    median = report.median_seconds
    until = report.cooling_until
    return t(
        "admin-stats-route",
        provider=report.provider,
        route=report.model_id,
        videos=report.videos,
        outcomes=report.outcomes,
        share="—" if share is None else f"{share * 100:.0f}",
        median="—" if median is None else format_elapsed(timedelta(seconds=median)),
        state="cooling" if until is not None else "retrying" if report.retrying else "ok",
        until="" if until is None else when(until),
    )


# ------------------------------------------------------------------ /audit, /block, /unblock


async def audit(
    message: Message, command: CommandObject, users: Users, moderation: Moderation, t: Texts
) -> None:
    """The moderation audit trail, newest first (everyone's, or one user's), as much as one message holds:
    refused prompts (the list or the API, the category, what matched, the prompt's start) and bans."""
    text = (command.args or "").strip()
    user = None
    if text:
        user = await _named_user(message, text, users, t, usage="admin-audit-usage")
        if user is None:
            return
    events = await moderation.events(limit=AUDIT_SHOWN + 1, user_id=None if user is None else user.id)
    if not events:
        await message.answer(t("admin-audit-empty"))
        return
    lines = [t("admin-audit-title-user", user=label(user)) if user else t("admin-audit-title")]
    more = t("admin-audit-more")
    room = TEXT_LIMIT - len(lines[0]) - len(more) - 1
    for event in events[:AUDIT_SHOWN]:
        line = audit_line(event, t)
        room -= len(line) + 1
        if room < 0:
            break
        lines.append(line)
    if len(lines) - 1 < len(events):
        lines.append(more)
    await message.answer("\n".join(lines))


def audit_line(event: ModerationEvent, t: Texts) -> str:
    date, user = when(event.created_at), str(event.user_id)
    if event.source is ModerationSource.ADMIN:
        key = "admin-audit-block" if event.category == "block" else "admin-audit-unblock"
        line = t(key, date=date, user=user, admin=str(event.admin_id))
        return line + (" · " + t("admin-notify-reason", reason=event.reason) if event.reason else "")
    return t(
        "admin-audit-refusal",
        date=date,
        user=user,
        source=event.source.value,
        category=event.category,
        reason=event.reason or "",
        prompt=event.excerpt or "",
    )


async def block(
    message: Message, command: CommandObject, users: Users, moderation: Moderation, t: Texts
) -> None:
    """Refuse the user's orders before any charge, from now on; their balance and running generations are
    left alone. Blocking twice changes nothing."""
    assert message.from_user is not None
    parts = (command.args or "").split(maxsplit=1)
    user = await _named_user(message, parts[0] if parts else "", users, t, usage="admin-block-usage")
    if user is None:
        return
    reason = parts[1][:REASON_LIMIT] if len(parts) > 1 else None
    outcome = await moderation.block(user.id, admin_id=message.from_user.id, reason=reason)
    if outcome is None:
        await message.answer(t("admin-user-not-found", ref=parts[0]))
        return
    key = "admin-block-done" if outcome.changed else "admin-block-already"
    await message.answer(t(key, user=label(outcome.user), id=str(outcome.user.id)))


async def unblock(
    message: Message, command: CommandObject, users: Users, moderation: Moderation, t: Texts
) -> None:
    assert message.from_user is not None
    parts = (command.args or "").split()
    named = parts[0] if len(parts) == 1 else ""
    user = await _named_user(message, named, users, t, usage="admin-unblock-usage")
    if user is None:
        return
    outcome = await moderation.unblock(user.id, admin_id=message.from_user.id)
    if outcome is None:
        await message.answer(t("admin-user-not-found", ref=named))
        return
    key = "admin-unblock-done" if outcome.changed else "admin-unblock-already"
    await message.answer(t(key, user=label(outcome.user)))


async def _named_user(message: Message, text: str, users: Users, t: Texts, *, usage: str) -> User | None:
    """The user an admin's argument names; None after answering with the usage or "no such user"."""
    ref = user_ref(text)
    user = None if ref is None else await users.find(ref)
    if user is None:
        await message.answer(t(usage if ref is None else "admin-user-not-found", ref=text))
    return user


def build_router() -> Router:
    router = Router(name="admin")
    router.message.filter(FROM_USER, IsAdmin())
    router.message.register(adjust, Command("topup", "deduct"))
    router.message.register(show_user, Command("user"))
    router.message.register(refund, Command("refund"))
    router.message.register(stats, Command("stats"))
    router.message.register(audit, Command("audit"))
    router.message.register(block, Command("block"))
    router.message.register(unblock, Command("unblock"))
    return router
