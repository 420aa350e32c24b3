"""LaoZhang: an OpenAI-compatible `/v1/videos` API (the OpenAI adapter, which also reads LaoZhang's
`output.url` and a `/content` that answers the video's URL), or its chat-completions route."""

from __future__ import annotations

from services.providers.descriptor import ProviderDescriptor
from services.providers.laozhang_chat import LaoZhangChatProvider
from services.providers.openai_videos import OpenAIVideosProvider

#: Polled like OpenAI, every 10 s at most; LaoZhang sends no callbacks.
DESCRIPTOR = ProviderDescriptor(
    name="laozhang",
    base_url="https://api.laozhang.ai/v1",
    adapters={"laozhang": OpenAIVideosProvider, "laozhang_chat": LaoZhangChatProvider},
    min_poll_interval=10.0,
)
