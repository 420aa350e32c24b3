# /library: the user's videos, paged, with actions on each one.

library-title = 📚 Your videos, newest first. Tap a number to open one.
library-empty = 📚 Your library is empty. Send /generate to make your first video.
library-entry = { $number }. { $model } · { $date } · { $status }
    { $prompt }
library-card = 🎬 { $model } · { $date } · { $status }
    { $prompt }
library-status = { $status ->
    [queued] ⏳ waiting
    [running] ⏳ in progress
    [succeeded] ✅ ready
    [delivered] ✅ ready
    [failed] ❌ failed
   *[cancelled] ✖ cancelled
}
library-button-open = { $number }
library-button-newer = ◀ Newer
library-button-older = Older ▶
library-button-regenerate = 🔁 Make again
library-button-extend = ⏩ Extend
library-button-remix = 🎨 Remix
library-button-delete = 🗑 Delete
library-button-delete-yes = 🗑 Yes, delete it
library-button-delete-no = Keep it
library-delete-confirm = Delete this video from your library? This cannot be undone.
library-deleted = Deleted from your library.
library-delete-refused = This video cannot be deleted while it is still being made or sent.
library-not-found = This video does not exist or is not yours.
library-unknown-action = This button is no longer valid. Send /library to see your videos.
library-unavailable = This video is no longer available: stored videos are kept for a limited time.
library-action-unsupported = This model cannot do that with this video.
library-model-unavailable = This model is not available any more.
