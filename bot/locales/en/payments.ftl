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
invoice-generation-title = One video: { $credits } credits
invoice-generation-description = One video with { $model }: { $credits } credits, paid with { $stars } Telegram Stars. It starts as soon as the payment arrives.
payment-order-expired = This order has expired or changed. Please open /generate and try again; you were not charged.
payment-generation-started = ✅ Payment received: { $credits } credits, and your video is ordered. Your balance: { $balance } credits. I'll send the video here as soon as it is ready.
payment-generation-kept = ✅ Payment received: { $credits } credits added. The order itself had expired, so nothing was started; the credits stay on your balance ({ $balance } credits). Send /generate to use them.
payment-generation-not-started = ✅ Payment received: { $credits } credits added, but the video could not be ordered:
    { $reason }
    The credits stay on your balance ({ $balance } credits). Send /generate to try again.
