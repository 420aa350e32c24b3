"""Telegram layer (aiogram 3): entry point, composition root, handlers, locales."""
