"""Kling: settings only, no adapter yet, so its catalog routes are never offered.

Kling signs a JWT with two keys, KLING_ACCESS_KEY and KLING_SECRET_KEY, instead of taking one API key.
"""

from __future__ import annotations

from services.providers.descriptor import ProviderDescriptor, Setting

DESCRIPTOR = ProviderDescriptor(
    name="kling",
    base_url="https://api-singapore.klingai.com",
    key="access_key",
    settings=(Setting("secret_key", partner="access_key"),),
)
