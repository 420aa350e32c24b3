"""Adapter selection by route, and the one retry with smaller images after "too large"."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from io import BytesIO

import pytest
from PIL import Image

from services.catalog import Route, load_catalog
from services.providers.base import (
    InputImage,
    InvalidRequestError,
    SubmitJob,
    Submitted,
    TaskStatus,
    VideoProvider,
)
from services.providers.demo import DemoProvider
from services.providers.gemini import GeminiVeoProvider
from services.providers.kie import KieVeoProvider
from services.providers.laozhang_chat import LaoZhangChatProvider
from services.providers.openai_videos import OpenAIVideosProvider
from services.providers.registry import Providers, submit
from services.providers.runware import RunwareProvider
from services.settings import Settings
from services.video_request import VideoRequest


def big_jpeg() -> InputImage:
    buffer = BytesIO()
    Image.new("RGB", (3000, 2000), (200, 30, 30)).save(buffer, "JPEG", quality=95)
    return InputImage(buffer.getvalue(), "image/jpeg", 3000, 2000)


async def test_every_offered_route_has_its_adapter(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        openai_api_key="o", laozhang_api_key="l", gemini_api_key="g", kie_api_key="k", runware_api_key="r"
    )
    providers = Providers(settings)
    expected = {
        "gemini": GeminiVeoProvider,
        "kie": KieVeoProvider,
        "runware": RunwareProvider,
        "laozhang": OpenAIVideosProvider,
        "openai": OpenAIVideosProvider,
        "demo": DemoProvider,
    }
    try:
        for offer in load_catalog().available(settings):
            for route in offer.routes:
                assert isinstance(providers.for_route(route), expected[route.provider])
        chat = Route(provider="laozhang", model_id="veo-3.1-fast", params={"adapter": "laozhang_chat"})
        assert isinstance(providers.for_route(chat), LaoZhangChatProvider)
        gemini = Route(provider="gemini", model_id="veo-2.0-generate-001")
        assert providers.for_route(gemini) is providers.for_route(gemini), "one instance per provider"
        with pytest.raises(LookupError):
            providers.for_route(Route(provider="runway", model_id="gen4_turbo"))
    finally:
        await providers.close()


class TooLargeOnce(VideoProvider):
    name = "stub"

    def __init__(self, *, status: int = 413, message: str = "Request Entity Too Large") -> None:
        self.jobs: list[SubmitJob] = []
        self._status = status
        self._message = message

    async def submit(self, job: SubmitJob) -> Submitted:
        self.jobs.append(job)
        if len(self.jobs) == 1:
            raise InvalidRequestError(self._message, provider=self.name, http_status=self._status)
        return Submitted("task-1")

    async def status(self, task_id: str) -> TaskStatus:
        raise NotImplementedError

    async def download(self, status: TaskStatus, *, max_bytes: int) -> AsyncIterator[bytes]:
        yield b""

    async def close(self) -> None:
        return None


def job(**images: object) -> SubmitJob:
    request = VideoRequest(model="veo-3.1", mode="i2v", prompt="p")
    return SubmitJob(request=request, route=Route(provider="gemini", model_id="m"), **images)  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "message"), [(413, "Payload Too Large"), (400, "Image is too large")])
async def test_too_large_images_are_shrunk_once(status: int, message: str) -> None:
    stub = TooLargeOnce(status=status, message=message)
    original = big_jpeg()
    result = await submit(stub, job(first_frame=original, reference_images=(original,)))
    assert result.task_id == "task-1"
    retried = stub.jobs[1]
    assert retried.first_frame is not None
    assert max(retried.first_frame.width, retried.first_frame.height) <= 1280
    assert len(retried.first_frame.data) < len(original.data)
    assert retried.reference_images[0].width == retried.first_frame.width


async def test_other_refusals_and_imageless_jobs_are_not_retried() -> None:
    stub = TooLargeOnce(status=400, message="bad aspect ratio")
    with pytest.raises(InvalidRequestError):
        await submit(stub, job(first_frame=big_jpeg()))
    no_images = TooLargeOnce()
    with pytest.raises(InvalidRequestError):
        await submit(no_images, job())
    assert len(stub.jobs) == len(no_images.jobs) == 1
