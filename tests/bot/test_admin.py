"""Admin commands and Stars refunds end to end over the fake Bot API."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.catalog import load_catalog
from services.stats import credit_value_usd, margins, provider_cost
from storage.records import GenerationStats, GenerationStatus, LedgerKind
from tests.bot.test_payments import buy_pack, replies
from tests.fakes.telegram import FakeTelegram
from tests.poller.conftest import CATALOG, USER, Rig

ADMIN = 9001
UNKNOWN = "Sorry, I don't know that command."


@pytest.fixture
def rig_settings() -> dict[str, Any]:
    return {"admin_ids": [ADMIN]}


def texts_to(telegram: FakeTelegram, chat_id: int) -> list[str]:
    return [
        c.params["text"]
        for c in telegram.calls_of("sendMessage")
        if c.ok and int(c.params["chat_id"]) == chat_id
    ]


async def command(rig: Rig, text: str, *, user: int = ADMIN) -> str:
    """Send a command and return the bot's next reply in that chat."""
    before = len(texts_to(rig.telegram, user))
    await rig.telegram.send_text(user, text)
    replies = await rig.telegram.wait_for(lambda t: texts_to(t, user)[before:])
    return replies[0]


async def paid_pack(rig: Rig) -> str:
    """The user buys the 100-credit pack; returns the charge id once it is credited."""
    invoice_id = await buy_pack(rig, 0)
    charge = await rig.telegram.pay(USER, invoice_id)
    assert charge is not None
    await rig.telegram.wait_for(lambda t: any("Payment received" in text for text in replies(t)))
    return charge


def refund_notices(telegram: FakeTelegram) -> list[str]:
    return [text for text in texts_to(telegram, USER) if "was refunded" in text]


async def test_top_up_by_id_notifies_the_user_in_their_language(rig: Rig, polling: None) -> None:
    await rig.fund(USER, 10, language="ru")
    reply = await command(rig, "/topup 5001 50 compensation for a slow video")
    assert "Added 50 credits to @user5001 (5001)" in reply and "Balance: 60" in reply
    notices = await rig.telegram.wait_for(lambda t: texts_to(t, USER))
    assert notices == [
        "🎁 Администратор начислил вам 50 кредитов. Ваш баланс: 60 кредитов.\n"
        "Причина: compensation for a slow video"
    ]
    entry = (await rig.store.list_ledger(USER, limit=1))[0]
    assert (entry.kind, entry.delta, entry.admin_id) == (LedgerKind.ADMIN, 50, ADMIN)
    assert entry.reason == "compensation for a slow video"
    assert await rig.balance() == 60


async def test_top_up_by_username_is_applied_once_when_the_update_comes_again(
    rig: Rig, polling: None
) -> None:
    await rig.store.ensure_user(USER, username="user5001")
    sent = await rig.telegram.send_text(ADMIN, "/topup @User5001 7")
    await rig.telegram.wait_for(lambda t: any("Added 7" in text for text in texts_to(t, ADMIN)))
    await rig.telegram.push_update("message", sent)  # Telegram redelivers after a restart
    await rig.telegram.wait_for(lambda t: any("already applied" in text for text in texts_to(t, ADMIN)))
    assert await rig.balance() == 7
    kinds = Counter(e.kind for e in await rig.store.list_ledger(USER))
    assert kinds == {LedgerKind.ADMIN: 1}
    assert len(texts_to(rig.telegram, USER)) == 1


async def test_deducting_more_than_the_balance_changes_nothing(rig: Rig, polling: None) -> None:
    await rig.fund(USER, 30)
    reply = await command(rig, "/deduct 5001 31 oops")
    assert "Cannot deduct 31 credits" in reply and "only 30" in reply and "Nothing was changed" in reply
    assert await rig.balance() == 30
    assert len(await rig.store.list_ledger(USER)) == 1
    reply = await command(rig, "/deduct 5001 30")
    assert "Deducted 30 credits" in reply and "Balance: 0" in reply
    notice = await rig.telegram.wait_for(lambda t: texts_to(t, USER))
    assert notice == ["An administrator removed 30 credits from your balance. Your balance: 0 credits."]
    assert await rig.balance() == 0


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("/topup", "Usage: /topup"),
        ("/topup 5001 0", "Usage: /topup"),
        ("/topup 5001 -5", "Usage: /topup"),
        ("/deduct 5001 ten", "Usage: /deduct"),
        ("/topup 777 5", "No user 777"),
        ("/topup @nobody 5", "No user @nobody"),
        ("/user", "Usage: /user"),
        ("/user @nobody", "No user @nobody"),
        ("/refund", "Usage: /refund"),
    ],
)
async def test_bad_arguments_get_usage_or_not_found(rig: Rig, polling: None, text: str, answer: str) -> None:
    await rig.fund(USER, 10)
    assert answer in await command(rig, text)
    assert await rig.balance() == 10


async def test_non_admins_get_the_unknown_command_answer(rig: Rig, polling: None) -> None:
    charge = await paid_pack(rig)
    for text in (
        "/topup 5001 1000",
        "/deduct 5001 10",
        "/user 5001",
        f"/refund {charge}",
        "/stats",
        "/nonsense",
    ):
        assert (await command(rig, text, user=USER)).startswith(UNKNOWN)
    assert await rig.balance() == 100
    assert rig.telegram.calls_of("refundStarPayment") == []


async def test_user_shows_balance_recent_generations_and_payments(rig: Rig, polling: None) -> None:
    charge = await paid_pack(rig)
    generation = await rig.order("a cat surfing a wave", model="demo")
    await rig.settle(generation.id)
    reply = await command(rig, "/user 5001")
    assert "Balance: 95 credits" in reply
    assert generation.id in reply and "Demo" in reply and "ready" in reply
    assert charge in reply and "100 ⭐ → 100 credits" in reply
    assert len(reply) <= 4096


async def test_refund_takes_back_the_credits_once_and_tells_the_user_once(rig: Rig, polling: None) -> None:
    charge = await paid_pack(rig)
    generation = await rig.order("spend some", model="demo")  # 5 of the 100 credits are spent
    await rig.settle(generation.id)
    reply = await command(rig, f"/refund {charge}")
    assert "Refunded 100 ⭐" in reply and "Took back 95 of 100 credits" in reply and "balance: 0" in reply
    [call] = rig.telegram.calls_of("refundStarPayment")
    assert call.params == {"user_id": str(USER), "telegram_payment_charge_id": charge}
    payment = await rig.store.get_payment(charge)
    assert payment is not None and payment.refunded
    # Telegram's refunded_payment message is handled too, and changes nothing more.
    await rig.telegram.wait_for(lambda t: not t.updates and refund_notices(t))
    reply = await command(rig, f"/refund {charge}")
    assert reply == f"Payment {charge} was already refunded."
    entries = [e for e in await rig.store.list_ledger(USER) if e.kind is LedgerKind.PAYMENT_REFUND]
    assert [(e.delta, e.payment_charge_id) for e in entries] == [(-95, charge)]
    assert refund_notices(rig.telegram) == [
        "⭐ Your payment of 100 Stars was refunded. 95 credits were taken back. Your balance: 0 credits."
    ]
    assert await rig.balance() == 0


async def test_a_refund_made_elsewhere_arrives_as_refunded_payment(rig: Rig, polling: None) -> None:
    charge = await paid_pack(rig)
    await rig.bot.refund_star_payment(user_id=USER, telegram_payment_charge_id=charge)
    await rig.telegram.wait_for(refund_notices)
    [paid_back] = [m for m in rig.telegram.messages.values() if "refunded_payment" in m]
    await rig.telegram.push_update("message", paid_back)  # delivered again
    reply = await command(rig, f"/refund {charge}")
    assert "already refunded" in reply
    assert await rig.balance() == 0
    kinds = Counter(e.kind for e in await rig.store.list_ledger(USER))
    assert kinds == {LedgerKind.PURCHASE: 1, LedgerKind.PAYMENT_REFUND: 1}
    assert len(refund_notices(rig.telegram)) == 1


async def test_refund_of_an_unknown_charge(rig: Rig, polling: None) -> None:
    await rig.fund(USER, 10)
    reply = await command(rig, "/refund stxNOPE")
    assert "not in our records" in reply and "/refund stxNOPE <user id>" in reply
    assert rig.telegram.calls_of("refundStarPayment") == []
    reply = await command(rig, "/refund stxNOPE 5001")
    assert reply == "Telegram does not know payment stxNOPE for this user."
    assert await rig.balance() == 10


async def test_refund_of_a_charge_only_telegram_knows(rig: Rig, polling: None) -> None:
    await rig.fund(USER, 10)
    rig.telegram.charges["stxELSEWHERE"] = {
        "user_id": USER,
        "total_amount": 50,
        "invoice_payload": "other",
        "refunded": False,
    }
    reply = await command(rig, "/refund stxELSEWHERE 5001")
    assert "Telegram refunded stxELSEWHERE to user 5001" in reply and "no credits" in reply
    assert rig.telegram.charges["stxELSEWHERE"]["refunded"]
    assert await rig.balance() == 10


async def test_stats_count_generations_by_status_and_model_and_stars_revenue(rig: Rig, polling: None) -> None:
    rig.clock.now = datetime.now(UTC)  # payments and users are stamped with the real time
    await paid_pack(rig)
    done = [await rig.order(f"video {n}", model="demo") for n in range(2)]
    await rig.settle(*(g.id for g in done))
    await rig.order("still waiting", model="demo")
    reply = await command(rig, "/stats")
    day, month = reply.split("\n\n")
    for block in (day, month):
        assert "\n3 generations (⏳ waiting: 1, ✅ ready: 2)\n" in block
        assert "• Demo: 3 generations (15 credits)" in block
        assert "Revenue: 100 ⭐ from 1 payment; refunded 0 ⭐ (0 payments); net 100 ⭐" in block
        assert "Provider cost ≈ $0.00" in block
        # the demo's route costs nothing; its 2 videos' 10 credits at the 1200-for-1000 pack × STAR_USD 0.013
        assert "💹 Margin per model and provider (1 credit ≈ $0.0108):" in block
        assert "• Demo · demo: 2 videos, revenue $0.11, cost $0.00, margin $0.11 (100 %)" in block
    assert day.startswith("📊 Last 24 hours") and month.startswith("📊 Last 30 days")


@pytest.mark.parametrize(
    ("language", "line"),
    [
        ("en", "⚠️ Uncertain submits: 2 generations refunded without knowing whether the provider made"),
        ("ru", "⚠️ Неясная отправка: 2 генерации с возвратом кредитов, хотя провайдер мог создать"),
        ("zh", "⚠️ 提交结果不确定：2 次生成已退款，服务商可能已创建（并计费）任务"),
    ],
)
async def test_stats_count_uncertain_submits_in_the_admins_language(
    rig: Rig, polling: None, language: str, line: str
) -> None:
    rig.clock.now = datetime.now(UTC)
    await rig.store.ensure_user(ADMIN, language=language)
    await rig.fund()
    for n in range(3):
        generation = await rig.order(f"video {n}", model="demo")
        await rig.generations.fail(generation.id, code="uncertain_submit" if n else "provider_failed")
    day, month = (await command(rig, "/stats")).split("\n\n")
    assert line in day and line in month


def test_provider_cost_uses_the_routes_prices_for_produced_videos() -> None:
    models = {m.key: m for m in load_catalog(CATALOG).models}
    clip = models["clip"]
    priced = clip.model_copy(
        update={
            "routes": [
                r.model_copy(
                    update={"cost_usd_per_clip": Decimal("0.5"), "cost_usd_per_second": Decimal("0.1")}
                )
                for r in clip.routes
            ]
        }
    )
    rows = [
        GenerationStats("clip", "openai", GenerationStatus.DELIVERED, 3, 30, 12),
        GenerationStats("clip", "openai", GenerationStatus.FAILED, 5, 50, 20),
        GenerationStats("gone", "openai", GenerationStatus.DELIVERED, 2, 20, 8),
    ]
    estimate = provider_cost(rows, {"clip": priced})
    assert estimate.usd == Decimal("2.7") and estimate.unpriced == 2

    # what providers reported replaces the estimate for those videos; the rest are still estimated
    reported = [
        GenerationStats("clip", "openai", GenerationStatus.DELIVERED, 3, 30, 12, 2, Decimal("1.10"), 8),
        GenerationStats("gone", "openai", GenerationStatus.DELIVERED, 2, 20, 8, 1, Decimal("0.40"), 4),
        GenerationStats("clip", "openai", GenerationStatus.FAILED, 5, 50, 20, 1, Decimal("9"), 4),
    ]
    mixed = provider_cost(reported, {"clip": priced})
    # clip: 1.10 reported + one estimated 4 s video (0.5 + 0.4); gone: 0.40 reported, one unpriced
    assert (mixed.usd, mixed.unpriced, mixed.reported) == (Decimal("2.40"), 1, 3)


def test_margins_per_model_and_provider_value_credits_at_the_most_generous_pack() -> None:
    models = {m.key: m for m in load_catalog(CATALOG).models}
    # 100 credits for 100 Stars, 1200 for 1000: a credit brings in at least 1000/1200 Star
    credit_usd = credit_value_usd([(100, 100), (1200, 1000)], Decimal("0.012"))
    assert credit_usd == Decimal("0.01")
    rows = [
        GenerationStats("clip", "openai", GenerationStatus.DELIVERED, 3, 300, 12, 3, Decimal("1.20"), 12),
        GenerationStats("clip", "laozhang", GenerationStatus.DELIVERED, 1, 100, 4, 1, Decimal("1.50"), 4),
        GenerationStats("clip", "openai", GenerationStatus.FAILED, 2, 200, 8),
    ]
    found = margins(rows, models, credit_usd)
    assert [(m.model, m.provider, m.count, m.credits) for m in found] == [
        ("clip", "openai", 3, 300),
        ("clip", "laozhang", 1, 100),
    ], "refunded videos earn nothing; the largest revenue first"
    openai, laozhang = found
    assert (openai.revenue_usd, openai.cost.usd, openai.margin_usd) == (
        Decimal(3),
        Decimal("1.20"),
        Decimal("1.80"),
    )
    assert openai.margin_share == Decimal("0.6")
    assert laozhang.margin_usd == Decimal("-0.50"), "a loss shows as one"
