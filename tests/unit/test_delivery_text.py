"""Texts the poller's Telegram side builds: progress bars, elapsed time, captions within 1024 characters."""

from __future__ import annotations

from datetime import timedelta

from bot.delivery import CAPTION_LIMIT, fit_caption, format_elapsed, progress_bar
from bot.i18n import LANGUAGES, Translator


def test_progress_bar_fills_with_progress() -> None:
    assert progress_bar(0) == "░" * 10
    assert progress_bar(44) == "▓" * 4 + "░" * 6
    assert progress_bar(100) == "▓" * 10
    assert progress_bar(250) == "▓" * 10 and progress_bar(-5) == "░" * 10


def test_elapsed_time_is_minutes_and_seconds() -> None:
    assert format_elapsed(timedelta(seconds=5)) == "0:05"
    assert format_elapsed(timedelta(minutes=12, seconds=34)) == "12:34"
    assert format_elapsed(timedelta(seconds=-3)) == "0:00"


def test_captions_keep_as_much_prompt_as_fits_in_every_language() -> None:
    translate = Translator()
    for language in LANGUAGES:
        for prompt in ("short", "x" * 1000, "y" * 5000):
            caption = fit_caption(
                prompt, lambda p, lang=language: translate(lang, "video-caption", model="Veo 3.1", prompt=p)
            )
            assert len(caption) <= CAPTION_LIMIT
            assert "Veo 3.1" in caption
            if len(prompt) <= 1000:  # fits beside the model line
                assert caption.endswith(prompt)
            else:
                assert caption.endswith("…") and len(caption) >= CAPTION_LIMIT - 2


def test_progress_texts_show_a_bar_or_the_elapsed_time() -> None:
    translate = Translator()
    bar = translate("en", "progress-running", model="Demo", bar=progress_bar(50), progress=50)
    assert "▓▓▓▓▓░░░░░ 50%" in bar
    waiting = translate("zh", "progress-waiting", model="Demo", elapsed=format_elapsed(timedelta(seconds=75)))
    assert "1:15" in waiting
