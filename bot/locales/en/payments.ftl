# Telegram Stars payments
buy-choose = Choose a credit pack. You pay with Telegram Stars ⭐.
buy-pack-button = { $credits } { $credits ->
        [one] credit
       *[other] credits
    } — { $stars } ⭐
buy-pack-gone = This pack is no longer on sale. Send /buy to see the current packs.
invoice-pack-title = { $credits } { $credits ->
        [one] credit
       *[other] credits
    }
invoice-pack-description = { $credits } { $credits ->
        [one] credit
       *[other] credits
    } for video generation, paid with { $stars } { $stars ->
        [one] Star
       *[other] Stars
    }.
payment-invalid = This offer has changed or expired. Please send /buy and try again; you were not charged.
payment-credited = ✅ Payment received: { $credits } { $credits ->
        [one] credit
       *[other] credits
    } added. Your balance: { $balance } { $balance ->
        [one] credit
       *[other] credits
    }.
payment-unknown = We received your payment but could not match it to an offer. Please send /paysupport with the code { $charge }.
paysupport = 💬 Payment support
    Credits are added as soon as Telegram confirms a payment. If a generation fails, its credits return to your balance automatically.
    For a refund of Stars or any payment problem, message the bot owner with your payment code (from the payment receipt in this chat) and a short description. We answer within 2 business days. Telegram support cannot help with purchases made in this bot.
invoice-generation-title = One video: { $credits } { $credits ->
        [one] credit
       *[other] credits
    }
invoice-generation-description = One video with { $model }: { $credits } { $credits ->
        [one] credit
       *[other] credits
    }, paid with { $stars } { $stars ->
        [one] Star
       *[other] Stars
    }. It starts as soon as the payment arrives.
payment-order-expired = This order has expired or changed. Please open /generate and try again; you were not charged.
payment-generation-started = ✅ Payment received: { $credits } { $credits ->
        [one] credit
       *[other] credits
    }, and your video is ordered. Your balance: { $balance } { $balance ->
        [one] credit
       *[other] credits
    }. I'll send the video here as soon as it is ready.
payment-generation-kept = ✅ Payment received: { $credits } { $credits ->
        [one] credit
       *[other] credits
    } added. The order itself had expired, so nothing was started; the credits stay on your balance ({ $balance } { $balance ->
        [one] credit
       *[other] credits
    }). Send /generate to use them.
payment-generation-not-started = ✅ Payment received: { $credits } { $credits ->
        [one] credit
       *[other] credits
    } added, but the video could not be ordered:
    { $reason }
    The credits stay on your balance ({ $balance } { $balance ->
        [one] credit
       *[other] credits
    }). Send /generate to try again.
