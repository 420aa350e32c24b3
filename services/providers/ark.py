"""BytePlus ModelArk (Seedance): settings only, no adapter yet, so its catalog routes are never offered."""

from __future__ import annotations

from services.providers.descriptor import ProviderDescriptor

DESCRIPTOR = ProviderDescriptor(name="ark", base_url="https://ark.ap-southeast.bytepluses.com/api/v3")
