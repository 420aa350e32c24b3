# The main menu, /help, /language, /cancel and the command list shown in Telegram's menu.

menu-generate = 🎬 New video
menu-library = 📚 My videos
menu-buy = ⭐ Buy credits
menu-balance = 💰 Balance
help =
    🎬 /generate — make a video: choose a model, its settings, add images if the mode needs them, describe the video, then pay with credits or Telegram Stars.
    📚 /library — your videos: send one again, make it again, extend or remix it, delete it.
    💰 /balance — your credits. ⭐ /buy — buy credits with Telegram Stars.
    🌐 /language — change the language. ✖ /cancel — stop what you are doing.
    💬 /paysupport — payment questions and refunds.
    If a generation fails, its credits come back to your balance automatically.
language-choose = Choose your language:
language-set = Language changed to English.
cancel-nothing = There is nothing to cancel.
cancel-wizard = Stopped. Nothing was charged.
stray-message = Send /generate to make a video, or /help to see everything I can do.
stale-button = This button is no longer active. Send /start to begin again.
cmd-start = Main menu
cmd-generate = Make a video
cmd-library = My videos
cmd-balance = My balance
cmd-buy = Buy credits with Stars
cmd-paysupport = Payment support
cmd-help = What I can do
cmd-language = Change the language
cmd-cancel = Stop the current step
cmd-topup = Admin: add credits
cmd-deduct = Admin: remove credits
cmd-user = Admin: look up a user
cmd-refund = Admin: refund a Stars payment
cmd-stats = Admin: statistics
cmd-audit = Admin: moderation refusals and blocks
cmd-block = Admin: block a user from ordering
cmd-unblock = Admin: unblock a user
language-name = 🇬🇧 English
