"""`python -m bot check`: validate the configuration and catalog offline, and show what users will see."""

from __future__ import annotations

from services.catalog import Catalog
from services.pricing import cheapest
from services.providers.registry import IMPLEMENTED_PROVIDERS
from services.settings import PROVIDERS, Settings


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
        + (", ".join(p for p in configured if p not in IMPLEMENTED_PROVIDERS) or "none"),
        "Providers without keys: " + (", ".join(p for p in PROVIDERS if p not in configured) or "none"),
        "",
    ]
    offers = catalog.available(settings)
    if offers:
        lines.append("Models users can order:")
        for offer in offers:
            routes = ", ".join(
                f"{r.provider}:{r.provider_model_id(offer.model.modes[0])}" for r in offer.routes
            )
            price = f"from {cheapest(offer.model)} credits"
            lines.append(f"  {offer.model.key:<16} {offer.model.name:<20} {price:<18} via {routes}")
    else:
        lines.append("No model is available: set a provider key (see .env.example) or DEMO_MODE=true.")
    hidden = [m.key for m in catalog.models if m.key not in {o.model.key for o in offers}]
    if hidden:
        lines.append("Not offered (no enabled route with a key): " + ", ".join(hidden))
    return "\n".join(lines), bool(offers)
