# Telegram Stars payments
buy-choose = Choose a credit pack. You pay with Telegram Stars ⭐.
buy-pack-button = { $credits } credits — { $stars } ⭐
buy-pack-gone = This pack is no longer on sale. Send /buy to see the current packs.
invoice-pack-title = { $credits } credits
invoice-pack-description = { $credits } credits for video generation, paid with { $stars } Telegram Stars.
payment-invalid = This offer has changed or expired. Please send /buy and try again; you were not charged.
payment-credited = ✅ Payment received: { $credits } credits added. Your balance: { $balance } credits.
payment-unknown = We received your payment but could not match it to an offer. Please send /paysupport with the code { $charge }.
paysupport = 💬 Payment support
    Credits are added as soon as Telegram confirms a payment. If a generation fails, its credits return to your balance automatically.
    For a refund of Stars or any payment problem, message the bot owner with your payment code (from the payment receipt in this chat) and a short description. We answer within 2 business days. Telegram support cannot help with purchases made in this bot.
