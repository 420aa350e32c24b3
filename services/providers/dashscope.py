"""Alibaba Cloud DashScope (Wan): settings only, no adapter yet, so its catalog routes are never offered."""

from __future__ import annotations

from services.providers.descriptor import ProviderDescriptor

DESCRIPTOR = ProviderDescriptor(name="dashscope", base_url="https://dashscope-intl.aliyuncs.com")
