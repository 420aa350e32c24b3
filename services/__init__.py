"""Domain services: catalog, pricing, requests, wallet, generation lifecycle. No aiogram here."""
