# The generation wizard (/generate)
wizard-choose-model = 🎬 Choose a model:
wizard-model-button = { $model } — from { $price } { $price ->
        [one] credit
       *[other] credits
    }
wizard-choose-mode = ✨ { $model }: what do you want to make?
# Mode names: the codes (t2v, i2v …) never reach the user; error messages use mode-*, buttons wizard-mode-*.
mode-t2v = Text → video
mode-i2v = Image → video
mode-fl2v = First and last frame → video
mode-ref2v = Reference images → video
mode-extend = Extend a video
mode-remix = Remix a video
wizard-mode-t2v = 📝 { mode-t2v }
wizard-mode-i2v = 🖼 { mode-i2v }
wizard-mode-fl2v = 🎞 { mode-fl2v }
wizard-mode-ref2v = 🧩 { mode-ref2v }
wizard-mode-extend = ⏩ { mode-extend }
wizard-mode-remix = 🔀 { mode-remix }
wizard-choose-settings = ⚙️ { $model } · { $mode }
    Choose the settings (the usual ones are preselected), then press Continue.
wizard-seconds = { $seconds } s
wizard-audio-on = 🔊 With sound
wizard-audio-off = 🔇 Silent
wizard-next = Continue ➡️
wizard-send-first = 🖼 Send the image for the first frame: a photo or an image file (JPEG, PNG or WEBP, up to { $max_mb } MB).
wizard-send-last = 🖼 Now send the image for the last frame: a photo or an image file (JPEG, PNG or WEBP, up to { $max_mb } MB).
wizard-send-refs = 🧩 { $max ->
        [one] Send 1 reference image, as a photo or an image file (JPEG, PNG or WEBP, up to { $max_mb } MB).
       *[other] Send 1 to { $max } reference images, as photos or image files (JPEG, PNG or WEBP, up to { $max_mb } MB each).
    } Received: { $count }.
wizard-keep-image = Keep this image ➡️
wizard-refs-done = Done ➡️
wizard-enter-prompt = ✍️ Describe the video you want (up to { $max } { $max ->
        [one] character
       *[other] characters
    }).
wizard-current-prompt = Current description: { $prompt }
wizard-keep-prompt = Keep this description ➡️
wizard-summary-title = 📋 Your video
wizard-summary-model = Model: { $model } · { $mode }
wizard-summary-settings = Settings: { $duration } · { $aspect } · { $resolution } · { $audio }
wizard-summary-images = Images: { $count }
wizard-summary-prompt = Description: { $prompt }
wizard-summary-price = Price: { $price } { $price ->
        [one] credit
       *[other] credits
    }
wizard-pay-credits = 💳 Pay { $price } { $price ->
        [one] credit
       *[other] credits
    }
wizard-pay-stars = ⭐ Pay { $stars } { $stars ->
        [one] Star
       *[other] Stars
    }
wizard-change = ✏️ Change a setting
wizard-change-what = ✏️ What do you want to change?
wizard-change-model = Model
wizard-change-mode = Kind of video
wizard-change-settings = Duration, format and sound
wizard-change-first = First frame
wizard-change-last = Last frame
wizard-change-refs = Reference images
wizard-change-prompt = Description
wizard-back = ⬅️ Back
wizard-cancel = ✖ Cancel
wizard-cancelled = Cancelled. Send /generate to start again.
wizard-stale = This menu is out of date. Send /generate to start again.
wizard-option-unavailable = This option is not available.
wizard-started = ✅ Ordered: { $model } for { $price } { $price ->
        [one] credit
       *[other] credits
    }. Your balance: { $balance } { $balance ->
        [one] credit
       *[other] credits
    }.
    I'll send the video here as soon as it is ready.
wizard-stars-hint = You can pay for this video with Telegram Stars instead.
wizard-limit-active = You already have { $limit } { $limit ->
        [one] video
       *[other] videos
    } in progress. Please wait until one is ready, then try again.
wizard-limit-rate = You can order at most { $limit } { $limit ->
        [one] video
       *[other] videos
    } a minute. Please wait a moment and try again.
wizard-image-download-failed = I could not download this file from Telegram. Please send it again.
wizard-expects-image = Please send an image: a photo or an image file.
wizard-expects-text = Please type the description as a text message.
# Options on the summary, where a route that can make the video takes them; off until pressed.
wizard-option-negative-prompt = 🚫 Negative prompt
wizard-option-seed = 🎲 Fixed seed
wizard-option-enhance-prompt = ✨ Improve the description
wizard-option-translate-prompt = 🌐 Translate the description to English
wizard-summary-negative = Negative prompt: { $prompt }
wizard-summary-seed = Seed: { $id }
wizard-summary-enhance-prompt = The provider improves the description before it makes the video.
wizard-summary-translate-prompt = The provider translates the description to English first.
wizard-enter-negative = 🚫 What should the video not show? Send it as a text message (a negative prompt), or press Back.
wizard-expects-negative = Please send the negative prompt as a text message.
wizard-enter-seed = 🎲 Send a seed: a whole number. The same seed with the same settings makes a similar video again. Or press Random.
wizard-seed-random = 🎲 Random
error-enhance-prompt-unsupported = { $model } cannot improve the description.
error-translate-prompt-unsupported = { $model } cannot translate the description.
# Variants: several videos of one request ordered at once, each priced, paid and delivered on its own.
wizard-summary-variants = 🎞 Variants: { $count }
wizard-summary-price-variants = Price: { $price } { $price ->
        [one] credit
       *[other] credits
    } a video, { $total } { $total ->
        [one] credit
       *[other] credits
    } for { $count } { $count ->
        [one] video
       *[other] videos
    }
wizard-variants-started = ✅ Ordered: { $count } { $count ->
        [one] video
       *[other] videos
    } with { $model }, { $price } { $price ->
        [one] credit
       *[other] credits
    } each, { $total } { $total ->
        [one] credit
       *[other] credits
    } in all. Your balance: { $balance } { $balance ->
        [one] credit
       *[other] credits
    }.
    I'll send each video here as soon as it is ready.
wizard-variants-partial = ✅ Ordered { $placed } of { $count } { $count ->
        [one] video
       *[other] videos
    } with { $model } for { $total } { $total ->
        [one] credit
       *[other] credits
    }; the others could not be ordered:
    { $reason }
    Your balance: { $balance } { $balance ->
        [one] credit
       *[other] credits
    }. I'll send each video here as soon as it is ready.
wizard-variants-stars-hint = You can pay for these videos with Telegram Stars instead.
wizard-variants-limit-active = At most { $limit } { $limit ->
        [one] video
       *[other] videos
    } can be in progress at once: not enough room for { $count } { $count ->
        [one] video
       *[other] videos
    } now. Choose fewer variants, or wait until one is ready.
wizard-variants-limit-rate = You can order at most { $limit } { $limit ->
        [one] video
       *[other] videos
    } a minute: not enough for { $count } { $count ->
        [one] video
       *[other] videos
    } now. Choose fewer variants, or wait a moment.
error-variants-count = The number of variants must be from 1 to { $max }.
invoice-variants-title = { $count } { $count ->
        [one] video
       *[other] videos
    }: { $credits } { $credits ->
        [one] credit
       *[other] credits
    }
invoice-variants-description = { $count } { $count ->
        [one] video
       *[other] videos
    } with { $model }: { $credits } { $credits ->
        [one] credit
       *[other] credits
    } in all, paid with { $stars } { $stars ->
        [one] Star
       *[other] Stars
    }. They start as soon as the payment arrives.
payment-variants-started = ✅ Payment received: { $credits } { $credits ->
        [one] credit
       *[other] credits
    }, and your { $count } { $count ->
        [one] video is
       *[other] videos are
    } ordered. Your balance: { $balance } { $balance ->
        [one] credit
       *[other] credits
    }. I'll send each video here as soon as it is ready.
payment-variants-partial = ✅ Payment received: { $credits } { $credits ->
        [one] credit
       *[other] credits
    } added. { $placed } of { $count } { $count ->
        [one] video is
       *[other] videos are
    } ordered; the others could not be:
    { $reason }
    Their credits stay on your balance ({ $balance } { $balance ->
        [one] credit
       *[other] credits
    }).
payment-variants-not-started = ✅ Payment received: { $credits } { $credits ->
        [one] credit
       *[other] credits
    } added, but the videos could not be ordered:
    { $reason }
    The credits stay on your balance ({ $balance } { $balance ->
        [one] credit
       *[other] credits
    }). Send /generate to try again.
