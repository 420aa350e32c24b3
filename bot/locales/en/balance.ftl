# /balance history and trial credits.

balance-user-id = Your user id: { $id }
balance-history = Recent changes:
balance-history-empty = No changes yet.
balance-entry = { $when }  { $sign }{ $amount } { $amount ->
        [one] credit
       *[other] credits
    } · { $what }
balance-kind-purchase = bought with Stars
balance-kind-debit = video
balance-kind-refund = refund for a video
balance-kind-admin = changed by an admin
balance-kind-payment_refund = Stars payment refunded
balance-kind-welcome = 🎁 welcome gift
admin-stats-welcome = Welcome credits: { $credits } to { $users ->
        [one] { $users } user
       *[other] { $users } users
    }
