"""`VideoRequest`: one provider-neutral description of the video a user orders.

It is built by the wizard, validated against the catalog before any money moves, stored as JSON on the
generation row, and translated by each provider adapter into that provider's own request.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from services.catalog import OPTIONS, Mode, Option, Route, VideoModel


class ImageRef(BaseModel):
    """An image the user supplied, already checked by services.media and kept in the media store.

    `source` is its media-store path; the poller reads it back (and checks it again) when it submits.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1)
    mime_type: str | None = None
    width: int | None = Field(None, gt=0)
    height: int | None = Field(None, gt=0)
    size_bytes: int | None = Field(None, ge=0)


class VideoRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    mode: Mode
    prompt: str = ""
    duration: int | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    audio: bool | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    #: The provider rewrites the prompt richer before generating (Veo `enhancePrompt`, DashScope
    #: `prompt_extend` ...); off unless the user turns it on in the summary.
    enhance_prompt: bool = False
    #: The provider translates the prompt to English first (KIE `enableTranslation`); off by default.
    translate_prompt: bool = False
    first_frame: ImageRef | None = None
    last_frame: ImageRef | None = None
    reference_images: tuple[ImageRef, ...] = ()
    source_generation_id: str | None = None
    extras: dict[str, str | int | float | bool] = Field(default_factory=dict)

    def with_defaults(self, model: VideoModel) -> Self:
        """Fill unset choices with the model's preselected defaults (what the wizard shows)."""
        return self.model_copy(
            update={
                "duration": self.duration if self.duration is not None else model.default_duration,
                "aspect_ratio": self.aspect_ratio or model.default_aspect_ratio,
                "resolution": self.resolution or model.default_resolution,
                "audio": model.resolved_audio(self.audio),
            }
        )

    def chosen_options(self) -> list[Option]:
        """The options this request asks for: those not left at their default (off)."""
        return [o for o in OPTIONS if getattr(self, o) != VideoRequest.model_fields[o].default]

    def for_route(self, route: Route) -> Self:
        """The request as `route` is sent it: every option it does not take cleared, so an adapter never
        passes one on to an API that may refuse it (the user was offered it for another route)."""
        cleared = {
            option: VideoRequest.model_fields[option].default for option in OPTIONS if not route.takes(option)
        }
        return self.model_copy(update=cleared)

    def choices(self) -> dict[str, object]:
        """The values catalog rules talk about."""
        return {
            "mode": self.mode,
            "duration": self.duration,
            "aspect_ratio": self.aspect_ratio,
            "resolution": self.resolution,
            "audio": self.audio,
        }
