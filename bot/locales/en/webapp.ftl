# The gallery Mini App (bot/webapp/): the chat menu button, /library's button, and the page's words.

webapp-menu-button = My videos
webapp-open-button = 🖼 Open the gallery
webapp-title = 🖼 My videos
webapp-unauthorized = This page only works when it is opened from the bot in Telegram. Open the chat with the bot and tap its menu button again.
webapp-error = Something went wrong. Please try again.
webapp-retry = Try again
webapp-send = 📤 Send to chat
webapp-sent = Sent to your chat with the bot.
webapp-send-failed = It could not be sent to the chat right now. Please try again later.
webapp-regenerate-confirm = 🔁 Make this video again with the same settings?
webapp-regenerate-started = Ordered. The new video is at the top of the list.
webapp-regenerate-unavailable = This video cannot be made again from here. Send /library in the chat to make it again with other settings.
webapp-price-changed = The price has changed. Please check the new price and confirm again.
webapp-expired = 🗄 no longer stored
webapp-cancel = Cancel
webapp-end = That is all your videos.
webapp-generate-message = Tap the button to make a new video.
webapp-generate-sent = The button is waiting in your chat with the bot.
