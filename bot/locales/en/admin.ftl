# Admin commands (ADMIN_IDS only) and the notices users get about them.

admin-topup-usage = Usage: /topup <user id or @username> <amount> [reason]. The amount is a whole number from 1 to { $max }.
admin-deduct-usage = Usage: /deduct <user id or @username> <amount> [reason]. The amount is a whole number from 1 to { $max }.
admin-user-not-found = No user { $ref }. Use a numeric id or an @username of someone who has started the bot.
admin-already-applied = This command was already applied. Balance: { $balance } { $balance ->
        [one] credit
       *[other] credits
    }.
admin-deduct-too-much = Cannot deduct { $amount } { $amount ->
        [one] credit
       *[other] credits
    } from { $user }: the balance is only { $balance } { $balance ->
        [one] credit
       *[other] credits
    }. Nothing was changed.
admin-topup-done = ✅ Added { $amount } { $amount ->
        [one] credit
       *[other] credits
    } to { $user }. Balance: { $balance } { $balance ->
        [one] credit
       *[other] credits
    }.
admin-deduct-done = ✅ Deducted { $amount } { $amount ->
        [one] credit
       *[other] credits
    } from { $user }. Balance: { $balance } { $balance ->
        [one] credit
       *[other] credits
    }.
admin-notify-failed = The user { $user } could not be notified (blocked the bot or never started it).
admin-notify-topup = 🎁 An administrator added { $amount } { $amount ->
        [one] credit
       *[other] credits
    } to your balance. Your balance: { $balance } { $balance ->
        [one] credit
       *[other] credits
    }.
admin-notify-deduct = An administrator removed { $amount } { $amount ->
        [one] credit
       *[other] credits
    } from your balance. Your balance: { $balance } { $balance ->
        [one] credit
       *[other] credits
    }.
admin-notify-reason = Reason: { $reason }
admin-user-usage = Usage: /user <user id or @username>
admin-user-header = 👤 { $user }
    Language: { $locale } · { $blocked ->
        [yes] blocked the bot
       *[no] active
    } · since { $since }
    Balance: { $balance } { $balance ->
        [one] credit
       *[other] credits
    }
admin-user-generations = Recent generations:
admin-user-no-generations = No generations.
admin-user-generation = • { $date } { $model } · { $status } · { $cost } { $cost ->
        [one] credit
       *[other] credits
    } · { $id }
admin-user-payments = Recent payments:
admin-user-no-payments = No payments.
admin-user-payment = • { $date } { $stars } ⭐ → { $credits } { $credits ->
        [one] credit
       *[other] credits
    }{ $refunded ->
        [yes] {" "}· refunded
       *[no] {""}
    } · { $charge }
admin-refund-usage = Usage: /refund <telegram_payment_charge_id> [user id, only for a payment we have no record of]
admin-refund-unknown = Payment { $charge } is not in our records. To refund it at Telegram anyway, add the payer's user id: /refund { $charge } <user id>
admin-refund-already = Payment { $charge } was already refunded.
admin-refund-not-found = Telegram does not know payment { $charge } for this user.
admin-refund-failed = Telegram refused to refund { $charge }: { $error }
admin-refund-done = ✅ Refunded { $stars } ⭐ for { $charge }. Took back { $debited } of { $credits } { $credits ->
        [one] credit
       *[other] credits
    }; the user's balance: { $balance } { $balance ->
        [one] credit
       *[other] credits
    }.
admin-refund-done-untracked = ✅ Telegram refunded { $charge } to user { $user }. It was not in our records, so no credits were taken back.
admin-stats-day = 📊 Last 24 hours
admin-stats-month = 📊 Last 30 days
admin-stats-generations = { $total } { $total ->
        [one] generation
       *[other] generations
    } ({ $statuses })
admin-stats-model = • { $model }: { $count } { $count ->
        [one] generation
       *[other] generations
    } ({ $credits } { $credits ->
        [one] credit
       *[other] credits
    })
admin-stats-more-models = • … and { $count } more { $count ->
        [one] model
       *[other] models
    }
admin-stats-revenue = Revenue: { $stars } ⭐ from { $payments } { $payments ->
        [one] payment
       *[other] payments
    }; refunded { $refunded_stars } ⭐ ({ $refunded } { $refunded ->
        [one] payment
       *[other] payments
    }); net { $net } ⭐
admin-stats-cost = Provider cost ≈ ${ $usd }{ $reported ->
        [0] {""}
        [one] {" "}({ $reported } video as its provider reported, the rest estimated)
       *[other] {" "}({ $reported } videos as their providers reported, the rest estimated)
    }{ $unpriced ->
        [0] {""}
        [one] {" "}(+ { $unpriced } video without a catalog price)
       *[other] {" "}(+ { $unpriced } videos without a catalog price)
    }
admin-stats-margins = 💹 Margin per model and provider (1 credit ≈ ${ $credit_usd }):
admin-stats-margin = • { $model } · { $provider }: { $count } { $count ->
        [one] video
       *[other] videos
    }, revenue ${ $revenue }, cost ${ $cost }{ $reported ->
        [0] {""}
       *[other] {" "}({ $reported } reported)
    }, margin ${ $margin } ({ $share } %)
admin-stats-users = { $count } new { $count ->
        [one] user
       *[other] users
    }
admin-stats-uncertain = ⚠️ Uncertain submits: { $count } { $count ->
        [one] generation
       *[other] generations
    } refunded without knowing whether the provider made (and billed) a task
refund-notice = ⭐ Your payment of { $stars } { $stars ->
        [one] Star
       *[other] Stars
    } was refunded. { $debited ->
        [0] No credits were taken back.
        [one] { $debited } credit was taken back.
       *[other] { $debited } credits were taken back.
    } Your balance: { $balance } { $balance ->
        [one] credit
       *[other] credits
    }.
admin-stats-health = 🩺 Routes now, in this process (latest results kept per route: { $window }):
admin-stats-health-none = • no results yet
admin-stats-route = • { $provider } · { $route }: { $videos } of { $outcomes } made a video ({ $share } %), median time to a video { $median }{ $state ->
        [cooling] , ❄️ cooling down until { $until } UTC
        [retrying] , 🔁 cool-down over: being tried again
       *[ok] {""}
    }
# Moderation: the audit trail (/audit) and bans (/block, /unblock).
admin-audit-usage = Usage: /audit [user id or @username]
admin-audit-title = 🛡 Moderation audit, newest first:
admin-audit-title-user = 🛡 Moderation audit of { $user }, newest first:
admin-audit-empty = 🛡 No moderation events.
admin-audit-refusal = • { $date } · user { $user } · { $source ->
        [api] moderation API
       *[list] word list
    } · { moderation-category }
    { $reason }
    “{ $prompt }”
admin-audit-block = • { $date } · user { $user } · 🔒 blocked by { $admin }
admin-audit-unblock = • { $date } · user { $user } · 🔓 unblocked by { $admin }
admin-audit-more = … older events are not shown.
admin-block-usage = Usage: /block <user id or @username> [reason]
admin-unblock-usage = Usage: /unblock <user id or @username>
admin-block-done = 🔒 { $user } is blocked: their orders are refused before any charge. Their balance and videos in progress are left as they are. /unblock { $id } undoes it.
admin-block-already = { $user } is already blocked. Nothing was changed.
admin-unblock-done = 🔓 { $user } is unblocked and can order again.
admin-unblock-already = { $user } is not blocked. Nothing was changed.
