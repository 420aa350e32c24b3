"""`python -m bot check`: validate the configuration and catalog offline, and show what users will see."""

from __future__ import annotations

import sys

from bot.backends import data_dir_problem
from bot.exit_status import ExitCode
from services.catalog import Catalog
from services.pricing import cheapest
from services.providers.registry import DESCRIPTORS
from services.settings import Settings


def callback_lines(settings: Settings, configured: list[str]) -> list[str]:
    """Where providers deliver task updates; OpenAI's URL must be pasted into its dashboard by hand."""
    if settings.public_base_url is None:
        return ["Provider callbacks: off (no PUBLIC_BASE_URL); every task is polled."]
    lines = [f"Web app: {settings.web_host}:{settings.web_port}, public at {settings.public_base_url}"]
    for provider in sorted(p for p in configured if DESCRIPTORS[p].callbacks.accepted):
        how = (
            "sent with each task"
            if DESCRIPTORS[provider].callbacks.per_task
            else "set as the project webhook"
        )
        lines.append(f"  {provider} callbacks ({how}): {settings.callback_url(provider)}")
    return lines


def report(settings: Settings, catalog: Catalog) -> tuple[str, bool]:
    """The report text, and whether the bot can offer at least one model."""
    configured = settings.configured_providers()
    lines = [
        "Configuration is valid.",
        f"Storage: {settings.storage_backend} "
        + (
            f"({settings.database_path}, media in {settings.media_dir})"
            if settings.storage_backend == "sqlite"
            else f"({settings.supabase_url}, bucket {settings.supabase_bucket})"
        ),
        f"Telegram Bot API: {settings.telegram_api_url} "
        f"(uploads up to {settings.telegram_upload_limit_mb} MB); "
        + (f"webhook at {settings.webhook_url}" if settings.webhook_url else "long polling"),
        f"Admins: {', '.join(map(str, settings.admin_ids)) or 'none (set ADMIN_IDS)'}",
        "Providers with keys: " + (", ".join(configured) or "none"),
        "Providers with keys but no adapter yet (ignored): "
        + (", ".join(p for p in configured if not DESCRIPTORS[p].adapters) or "none"),
        "Providers without keys: " + (", ".join(p for p in DESCRIPTORS if p not in configured) or "none"),
        *callback_lines(settings, configured),
        "",
    ]
    offers = catalog.available(settings.usable_providers())
    if offers:
        lines.append("Models users can order:")
        for offer in offers:
            routes = ", ".join(
                f"{r.provider}:{r.provider_model_id(offer.model.modes[0])}" for r in offer.routes
            )
            price = f"from {cheapest(offer)} credits"
            lines.append(f"  {offer.model.key:<16} {offer.model.name:<20} {price:<18} via {routes}")
    else:
        lines.append("No model is available: set a provider key (see .env.example) or DEMO_MODE=true.")
    hidden = [m.key for m in catalog.models if m.key not in {o.model.key for o in offers}]
    if hidden:
        lines.append("Not offered (no enabled route with a key): " + ", ".join(hidden))
    return "\n".join(lines), bool(offers)


def check(settings: Settings, catalog: Catalog) -> ExitCode:
    """Print the report; the status says whether the bot could start (its files) and sell (a model).

    The data directory is tested the way the start tests it, with nothing left behind; Telegram and the
    providers are never contacted.
    """
    text, usable = report(settings, catalog)
    print(text)
    problem = data_dir_problem(settings)
    if problem is not None:
        print(problem, file=sys.stderr)
        return ExitCode.STORAGE_PATH
    return ExitCode.OK if usable else ExitCode.NO_MODEL
