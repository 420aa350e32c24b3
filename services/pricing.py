"""Prices in credits, from the catalog: per clip and/or per second, times resolution and audio multipliers."""

from __future__ import annotations

import math
from decimal import Decimal

from services.catalog import AvailableModel, VideoModel
from services.video_request import VideoRequest


def quote(model: VideoModel, request: VideoRequest) -> int:
    """Credits for `request` (defaults filled in), rounded up, never below the model's minimum."""
    request = request.with_defaults(model)
    assert request.duration is not None and request.resolution is not None
    price = model.price
    amount = price.per_clip + price.per_second * request.duration
    amount *= price.resolution.get(request.resolution, Decimal(1))
    if request.audio and model.audio == "optional":
        amount *= price.audio
    # Quantize first so binary noise such as 15.000000001 never rounds a whole price up by one credit.
    return max(price.minimum, math.ceil(amount.quantize(Decimal("0.000001"))))


def cheapest(offer: AvailableModel) -> int:
    """The lowest price over what the configured routes can make, for "from N credits" in the model list
    (a combination no route makes would advertise a price nobody can pay)."""
    model = offer.model
    prices = [
        quote(
            model,
            VideoRequest(
                model=model.key,
                mode=c.mode,
                duration=c.duration,
                aspect_ratio=c.aspect_ratio,
                resolution=c.resolution,
                audio=c.audio,
            ),
        )
        for c in offer.combinations
    ]
    return min(prices, default=quote(model, VideoRequest(model=model.key, mode=model.modes[0])))


def stars_for(credits: int, stars_per_credit: Decimal) -> int:
    """Stars that buy exactly `credits` when a user pays one generation directly."""
    return max(1, math.ceil(Decimal(credits) * stars_per_credit))
