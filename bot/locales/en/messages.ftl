# English. Keys are shared by all locales; tests check every key exists in each of them.

start-welcome = Hi, { $name }! I make videos with AI models such as Veo, Sora, Vidu and Kling.
    Your balance: { $balance } { $balance ->
        [one] credit
       *[other] credits
    }.
balance = Your balance: { $balance } { $balance ->
        [one] credit
       *[other] credits
    }.
unknown-command = Sorry, I don't know that command. Send /help to see what I can do.
insufficient-funds = Not enough credits: this costs { $price } { $price ->
        [one] credit
       *[other] credits
    } and you have { $balance } { $balance ->
        [one] credit
       *[other] credits
    }. You need { $shortfall } more { $shortfall ->
        [one] credit
       *[other] credits
    }.

error-model-mismatch = This request belongs to another model than { $model }.
error-model-unavailable = This model is not available right now.
error-mode-unsupported = { $model } cannot make videos in the mode “{ $mode }”.
error-duration-not-allowed = This duration is not available. Choose one of: { $allowed } seconds.
error-aspect-not-allowed = This aspect ratio is not available. Choose one of: { $allowed }.
error-resolution-not-allowed = This resolution is not available. Choose one of: { $allowed }.
error-audio-always = { $model } always creates sound; it cannot be switched off.
error-audio-unsupported = { $model } makes silent videos only.
error-prompt-empty = Please describe the video you want.
error-prompt-too-long = The description is too long: { $length } { $length ->
        [one] character
       *[other] characters
    }, at most { $max }.
error-negative-prompt-unsupported = { $model } does not take a negative prompt.
error-negative-prompt-too-long = The negative prompt is too long: at most { $max } { $max ->
        [one] character
       *[other] characters
    }.
error-seed-unsupported = { $model } does not take a seed.
error-seed-range = The seed must be a whole number from 0 to { $max }.
error-first-frame-required = Please send the image for the first frame.
error-last-frame-required = Please send the image for the last frame.
error-image-not-expected = The mode “{ $mode }” does not use that image.
error-reference-count = { $max ->
        [one] Send 1 reference image
       *[other] Send between 1 and { $max } reference images
    } (you sent { $count }).
error-source-required = Choose the video to extend or remix in your /library.
error-source-not-expected = The mode “{ $mode }” does not use an earlier video.
error-no-route = No provider can make { $model } with these settings right now. Try other settings.

rule-hd-needs-8s = 1080p and 4K videos are 8 seconds long. Choose 8 seconds or a lower resolution.
rule-mode-needs-8s = This mode makes 8-second videos only. Choose 8 seconds.
rule-extend-720p = Videos can only be extended at 720p.
rule-8s-needs-720p = 8-second videos are available at 720p only.
rule-music-needs-4s = Background music is available for 4-second videos only.

error-image-unsupported-format = This image format ({ $format }) is not supported. Send a JPEG, PNG or WEBP image.
error-image-corrupt = This file is damaged or is not an image. Send a JPEG, PNG or WEBP image.
error-image-too-large = The image is too large: at most { $max_mb } MB.
error-image-too-many-pixels = The image has too many pixels: at most { $max_megapixels } { $max_megapixels ->
        [one] megapixel
       *[other] megapixels
    }.
error-image-too-small = The image is too small ({ $width }×{ $height }); each side needs at least { $min } { $min ->
        [one] pixel
       *[other] pixels
    }.

# progress, delivery and failures (sent by the poller)
progress-running = ⏳ { $model }: making your video…
    { $bar } { $progress }%
progress-waiting = ⏳ { $model }: making your video… { $elapsed } so far.
button-cancel = ✖ Cancel
video-caption = 🎬 { $model }
    { $prompt }
video-link = Your video is ready ({ $size_mb } MB) but too large to send in Telegram. Download it here (the link works for { $hours } { $hours ->
        [one] hour
       *[other] hours
    }): { $url }
video-no-link = Your video is ready ({ $size_mb } MB) but too large to send in Telegram, and downloads are not set up on this bot. Please contact support with the code { $id }.
failure-refund = { $credits ->
        [one] { $credits } credit has
       *[other] { $credits } credits have
    } been returned to your balance.
failure-content_policy = ❌ The provider's safety filter rejected this request.
failure-no_video = ❌ The provider finished without a video (often its safety filter).
failure-timeout = ❌ The provider took too long, so the generation was stopped.
failure-provider_failed = ❌ The provider could not make this video.
failure-image_changed = ❌ An input image changed after the job was planned, so it was not sent.
failure-no_route = ❌ No provider could take this request right now.
failure-invalid_request = ❌ The provider did not accept these settings.
failure-download_failed = ❌ The finished video could not be downloaded from the provider.
failure-too_large = ❌ The finished video was larger than this bot can store.
failure-model_unavailable = ❌ This model is no longer available.
failure-source_unavailable = ❌ The video to extend or remix is no longer available.
failure-image_unavailable = ❌ Your image could not be read back for the provider.
failure-uncertain_submit = ❌ The provider did not confirm that it started this video, so it was stopped.
generation-rerouted = 🔁 The provider failed on its side, so another provider is making your video now, at no extra cost.
failure-cancelled = Generation cancelled.
cancel-done = Cancelled. { $credits ->
        [one] { $credits } credit has
       *[other] { $credits } credits have
    } been returned to your balance.
cancel-too-late = This generation can no longer be cancelled.
cancel-not-found = This generation does not exist or is not yours.
