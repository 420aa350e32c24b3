# /balance: история и приветственные кредиты.

balance-user-id = Ваш id: { $id }
balance-history = Последние изменения:
balance-history-empty = Изменений пока нет.
balance-entry = { $when }  { $sign }{ $amount } { $amount ->
        [one] кредит
        [few] кредита
       *[many] кредитов
    } · { $what }
balance-kind-purchase = покупка за звёзды
balance-kind-debit = видео
balance-kind-refund = возврат за видео
balance-kind-admin = изменено администратором
balance-kind-payment_refund = возврат платежа звёздами
balance-kind-welcome = 🎁 приветственный подарок
admin-stats-welcome = Приветственные кредиты: { $credits } для { $users ->
        [one] { $users } пользователя
       *[other] { $users } пользователей
    }
