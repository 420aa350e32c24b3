# Команды администратора (только ADMIN_IDS) и уведомления пользователям о них.

admin-topup-usage = Формат: /topup <id пользователя или @username> <сумма> [причина]. Сумма — целое число от 1 до { $max }.
admin-deduct-usage = Формат: /deduct <id пользователя или @username> <сумма> [причина]. Сумма — целое число от 1 до { $max }.
admin-user-not-found = Пользователь { $ref } не найден. Укажите числовой id или @username того, кто запускал бота.
admin-already-applied = Эта команда уже выполнена. Баланс: { $balance } кредитов.
admin-deduct-too-much = Нельзя списать { $amount } кредитов у { $user }: на балансе только { $balance }. Ничего не изменено.
admin-topup-done = ✅ Начислено { $amount } кредитов пользователю { $user }. Баланс: { $balance } кредитов.
admin-deduct-done = ✅ Списано { $amount } кредитов у { $user }. Баланс: { $balance } кредитов.
admin-notify-failed = Не удалось уведомить пользователя { $user } (заблокировал бота или не запускал его).
admin-notify-topup = 🎁 Администратор начислил вам { $amount } кредитов. Ваш баланс: { $balance } кредитов.
admin-notify-deduct = Администратор списал с вашего баланса { $amount } кредитов. Ваш баланс: { $balance } кредитов.
admin-notify-reason = Причина: { $reason }
admin-user-usage = Формат: /user <id пользователя или @username>
admin-user-header = 👤 { $user }
    Язык: { $locale } · { $blocked ->
        [yes] заблокировал бота
       *[no] активен
    } · с { $since }
    Баланс: { $balance } кредитов
admin-user-generations = Последние генерации:
admin-user-no-generations = Генераций нет.
admin-user-generation = • { $date } { $model } · { $status } · { $cost } кр. · { $id }
admin-user-payments = Последние платежи:
admin-user-no-payments = Платежей нет.
admin-user-payment = • { $date } { $stars } ⭐ → { $credits } кр.{ $refunded ->
    [yes] {" "}· возвращён
   *[no] {""}
} · { $charge }
admin-refund-usage = Формат: /refund <telegram_payment_charge_id> [id пользователя — только для платежа, которого нет в наших записях]
admin-refund-unknown = Платежа { $charge } нет в наших записях. Чтобы всё равно вернуть его через Telegram, добавьте id плательщика: /refund { $charge } <id пользователя>
admin-refund-already = Платёж { $charge } уже возвращён.
admin-refund-not-found = Telegram не знает платёж { $charge } этого пользователя.
admin-refund-failed = Telegram отказался вернуть { $charge }: { $error }
admin-refund-done = ✅ Возвращено { $stars } ⭐ за { $charge }. Списано { $debited } из { $credits } кредитов; баланс пользователя: { $balance }.
admin-refund-done-untracked = ✅ Telegram вернул { $charge } пользователю { $user }. Платежа не было в наших записях, поэтому кредиты не списаны.
admin-stats-day = 📊 За 24 часа
admin-stats-month = 📊 За 30 дней
admin-stats-generations = Генераций: { $total } ({ $statuses })
admin-stats-model = • { $model }: { $count } ({ $credits } кредитов)
admin-stats-more-models = • … и ещё моделей: { $count }
admin-stats-revenue = Выручка: { $stars } ⭐, платежей: { $payments }; возвращено { $refunded_stars } ⭐ ({ $refunded }); итого { $net } ⭐
admin-stats-cost = Затраты на провайдеров ≈ ${ $usd }{ $unpriced ->
    [0] {""}
   *[other] {" "}(+ видео без цены в каталоге: { $unpriced })
}
admin-stats-users = Новых пользователей: { $count }
refund-notice = ⭐ Ваш платёж на { $stars } Stars возвращён. { $debited ->
    [0] Кредиты не списаны.
   *[other] Списано кредитов: { $debited }.
} Ваш баланс: { $balance } кредитов.
