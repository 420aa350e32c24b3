# Команды администратора (только ADMIN_IDS) и уведомления пользователям о них.

admin-topup-usage = Формат: /topup <id пользователя или @username> <сумма> [причина]. Сумма — целое число от 1 до { $max }.
admin-deduct-usage = Формат: /deduct <id пользователя или @username> <сумма> [причина]. Сумма — целое число от 1 до { $max }.
admin-user-not-found = Пользователь { $ref } не найден. Укажите числовой id или @username того, кто запускал бота.
admin-already-applied = Эта команда уже выполнена. Баланс: { $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }.
admin-deduct-too-much = Нельзя списать у { $user } { $amount } { $amount ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }: на балансе только { $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }. Ничего не изменено.
admin-topup-done = ✅ Пользователю { $user } { $amount ->
        [one] начислен { $amount } кредит
        [few] начислено { $amount } кредита
        [many] начислено { $amount } кредитов
       *[other] начислено { $amount } кредита
    }. Баланс: { $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }.
admin-deduct-done = ✅ У { $user } { $amount ->
        [one] списан { $amount } кредит
        [few] списано { $amount } кредита
        [many] списано { $amount } кредитов
       *[other] списано { $amount } кредита
    }. Баланс: { $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }.
admin-notify-failed = Не удалось уведомить пользователя { $user } (заблокировал бота или не запускал его).
admin-notify-topup = 🎁 Администратор начислил вам { $amount } { $amount ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }. Ваш баланс: { $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }.
admin-notify-deduct = Администратор списал с вашего баланса { $amount } { $amount ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }. Ваш баланс: { $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }.
admin-notify-reason = Причина: { $reason }
admin-user-usage = Формат: /user <id пользователя или @username>
admin-user-header = 👤 { $user }
    Язык: { $locale } · { $blocked ->
        [yes] заблокировал бота
       *[no] активен
    } · с { $since }
    Баланс: { $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }
admin-user-generations = Последние генерации:
admin-user-no-generations = Генераций нет.
admin-user-generation = • { $date } { $model } · { $status } · { $cost } { $cost ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    } · { $id }
admin-user-payments = Последние платежи:
admin-user-no-payments = Платежей нет.
admin-user-payment = • { $date } { $stars } ⭐ → { $credits } { $credits ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }{ $refunded ->
        [yes] {" "}· возвращён
       *[no] {""}
    } · { $charge }
admin-refund-usage = Формат: /refund <telegram_payment_charge_id> [id пользователя — только для платежа, которого нет в наших записях]
admin-refund-unknown = Платежа { $charge } нет в наших записях. Чтобы всё равно вернуть его через Telegram, добавьте id плательщика: /refund { $charge } <id пользователя>
admin-refund-already = Платёж { $charge } уже возвращён.
admin-refund-not-found = Telegram не знает платёж { $charge } этого пользователя.
admin-refund-failed = Telegram отказался вернуть { $charge }: { $error }
admin-refund-done = ✅ Возвращено { $stars } ⭐ за { $charge }. Списано { $debited } из { $credits } { $credits ->
        [one] кредита
       *[other] кредитов
    }; баланс пользователя: { $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }.
admin-refund-done-untracked = ✅ Telegram вернул { $charge } пользователю { $user }. Платежа не было в наших записях, поэтому кредиты не списаны.
admin-stats-day = 📊 За 24 часа
admin-stats-month = 📊 За 30 дней
admin-stats-generations = { $total } { $total ->
        [one] генерация
        [few] генерации
        [many] генераций
       *[other] генерации
    } ({ $statuses })
admin-stats-model = • { $model }: { $count } { $count ->
        [one] генерация
        [few] генерации
        [many] генераций
       *[other] генерации
    } ({ $credits } { $credits ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    })
admin-stats-more-models = • … и ещё { $count } { $count ->
        [one] модель
        [few] модели
        [many] моделей
       *[other] модели
    }
admin-stats-revenue = Выручка: { $stars } ⭐ за { $payments } { $payments ->
        [one] платёж
        [few] платежа
        [many] платежей
       *[other] платежа
    }; возвращено { $refunded_stars } ⭐ ({ $refunded } { $refunded ->
        [one] платёж
        [few] платежа
        [many] платежей
       *[other] платежа
    }); итого { $net } ⭐
admin-stats-cost = Затраты на провайдеров ≈ ${ $usd }{ $reported ->
        [0] {""}
        [one] {" "}({ $reported } видео — по данным провайдера, остальное — оценка)
        [few] {" "}({ $reported } видео — по данным провайдеров, остальное — оценка)
       *[other] {" "}({ $reported } видео — по данным провайдеров, остальное — оценка)
    }{ $unpriced ->
        [0] {""}
       *[other] {" "}(+ { $unpriced } видео без цены в каталоге)
    }
admin-stats-margins = 💹 Маржа по моделям и провайдерам (1 кредит ≈ ${ $credit_usd }):
admin-stats-margin = • { $model } · { $provider }: { $count } видео, выручка ${ $revenue }, затраты ${ $cost }{ $reported ->
        [0] {""}
       *[other] {" "}({ $reported } по данным провайдера)
    }, маржа ${ $margin } ({ $share } %)
admin-stats-users = { $count } { $count ->
        [one] новый пользователь
        [few] новых пользователя
        [many] новых пользователей
       *[other] нового пользователя
    }
admin-stats-uncertain = ⚠️ Неясная отправка: { $count } { $count ->
        [one] генерация
        [few] генерации
        [many] генераций
       *[other] генерации
    } с возвратом кредитов, хотя провайдер мог создать (и оплатить) задачу
refund-notice = ⭐ Ваш платёж на { $stars } { $stars ->
        [one] звезду
        [few] звезды
        [many] звёзд
       *[other] звезды
    } возвращён. { $debited ->
        [0] Кредиты не списаны.
        [one] Списан { $debited } кредит.
        [few] Списано { $debited } кредита.
        [many] Списано { $debited } кредитов.
       *[other] Списано { $debited } кредита.
    } Ваш баланс: { $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }.
admin-stats-health = 🩺 Маршруты сейчас, в этом процессе (последних результатов на маршрут: { $window }):
admin-stats-health-none = • результатов пока нет
admin-stats-route = • { $provider } · { $route }: успешно { $videos } из { $outcomes } ({ $share } %), медиана времени до видео { $median }{ $state ->
        [cooling] , ❄️ пауза до { $until } UTC
        [retrying] , 🔁 пауза закончилась: пробуем снова
       *[ok] {""}
    }
# Модерация: журнал (/audit) и блокировки (/block, /unblock).
admin-audit-usage = Формат: /audit [id пользователя или @username]
admin-audit-title = 🛡 Журнал модерации, сначала новые:
admin-audit-title-user = 🛡 Журнал модерации для { $user }, сначала новые:
admin-audit-empty = 🛡 Записей модерации нет.
admin-audit-refusal = • { $date } · пользователь { $user } · { $source ->
        [api] API модерации
       *[list] список слов
    } · { moderation-category }
    { $reason }
    «{ $prompt }»
admin-audit-block = • { $date } · пользователь { $user } · 🔒 заблокирован администратором { $admin }
admin-audit-unblock = • { $date } · пользователь { $user } · 🔓 разблокирован администратором { $admin }
admin-audit-more = … более старые записи не показаны.
admin-block-usage = Формат: /block <id пользователя или @username> [причина]
admin-unblock-usage = Формат: /unblock <id пользователя или @username>
admin-block-done = 🔒 { $user } заблокирован: его заказы отклоняются до списания. Баланс и видео в работе остаются как есть. Отменить: /unblock { $id }
admin-block-already = { $user } уже заблокирован. Ничего не изменено.
admin-unblock-done = 🔓 { $user } разблокирован и снова может заказывать видео.
admin-unblock-already = { $user } не заблокирован. Ничего не изменено.
