# Admin commands (ADMIN_IDS only) and the notices users get about them.

admin-topup-usage = Usage: /topup <user id or @username> <amount> [reason]. The amount is a whole number from 1 to { $max }.
admin-deduct-usage = Usage: /deduct <user id or @username> <amount> [reason]. The amount is a whole number from 1 to { $max }.
admin-user-not-found = No user { $ref }. Use a numeric id or an @username of someone who has started the bot.
admin-already-applied = This command was already applied. Balance: { $balance } credits.
admin-deduct-too-much = Cannot deduct { $amount } credits from { $user }: the balance is only { $balance }. Nothing was changed.
admin-topup-done = ✅ Added { $amount } credits to { $user }. Balance: { $balance } credits.
admin-deduct-done = ✅ Deducted { $amount } credits from { $user }. Balance: { $balance } credits.
admin-notify-failed = The user { $user } could not be notified (blocked the bot or never started it).
admin-notify-topup = 🎁 An administrator added { $amount } credits to your balance. Your balance: { $balance } credits.
admin-notify-deduct = An administrator removed { $amount } credits from your balance. Your balance: { $balance } credits.
admin-notify-reason = Reason: { $reason }
admin-user-usage = Usage: /user <user id or @username>
admin-user-header = 👤 { $user }
    Language: { $locale } · { $blocked ->
        [yes] blocked the bot
       *[no] active
    } · since { $since }
    Balance: { $balance } credits
admin-user-generations = Recent generations:
admin-user-no-generations = No generations.
admin-user-generation = • { $date } { $model } · { $status } · { $cost } cr · { $id }
admin-user-payments = Recent payments:
admin-user-no-payments = No payments.
admin-user-payment = • { $date } { $stars } ⭐ → { $credits } cr{ $refunded ->
    [yes] {" "}· refunded
   *[no] {""}
} · { $charge }
admin-refund-usage = Usage: /refund <telegram_payment_charge_id> [user id, only for a payment we have no record of]
admin-refund-unknown = Payment { $charge } is not in our records. To refund it at Telegram anyway, add the payer's user id: /refund { $charge } <user id>
admin-refund-already = Payment { $charge } was already refunded.
admin-refund-not-found = Telegram does not know payment { $charge } for this user.
admin-refund-failed = Telegram refused to refund { $charge }: { $error }
admin-refund-done = ✅ Refunded { $stars } ⭐ for { $charge }. Took back { $debited } of { $credits } credits; the user's balance: { $balance }.
admin-refund-done-untracked = ✅ Telegram refunded { $charge } to user { $user }. It was not in our records, so no credits were taken back.
admin-stats-day = 📊 Last 24 hours
admin-stats-month = 📊 Last 30 days
admin-stats-generations = Generations: { $total } ({ $statuses })
admin-stats-model = • { $model }: { $count } ({ $credits } credits)
admin-stats-more-models = • … and { $count } more models
admin-stats-revenue = Revenue: { $stars } ⭐ from { $payments } payments; refunded { $refunded_stars } ⭐ ({ $refunded }); net { $net } ⭐
admin-stats-cost = Provider cost ≈ ${ $usd }{ $unpriced ->
    [0] {""}
   *[other] {" "}(+ { $unpriced } videos without a catalog price)
}
admin-stats-users = New users: { $count }
refund-notice = ⭐ Your payment of { $stars } Stars was refunded. { $debited ->
    [0] No credits were taken back.
   *[other] { $debited } credits were taken back.
} Your balance: { $balance } credits.
