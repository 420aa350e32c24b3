"""Runway: settings only, no adapter yet, so its catalog routes are never offered."""

from __future__ import annotations

from services.providers.descriptor import ProviderDescriptor

DESCRIPTOR = ProviderDescriptor(name="runway", base_url="https://api.dev.runwayml.com")
