"""A stand-in for asyncio.sleep in ProviderHttp: a list of the delays asked for, without waiting."""

from __future__ import annotations


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
