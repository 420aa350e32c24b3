# Оплата звёздами Telegram
buy-choose = Выберите пакет кредитов. Оплата — звёздами Telegram ⭐.
buy-pack-button = { $credits } { $credits ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    } — { $stars } ⭐
buy-pack-gone = Этот пакет больше не продаётся. Отправьте /buy, чтобы увидеть актуальные пакеты.
invoice-pack-title = { $credits } { $credits ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }
invoice-pack-description = { $credits } { $credits ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    } для генерации видео. Стоимость: { $stars } { $stars ->
        [one] звезда
        [few] звезды
        [many] звёзд
       *[other] звезды
    } Telegram.
payment-invalid = Предложение изменилось или устарело. Отправьте /buy и попробуйте снова; деньги не списаны.
payment-credited = ✅ Оплата получена: { $credits ->
        [one] начислен { $credits } кредит
        [few] начислено { $credits } кредита
        [many] начислено { $credits } кредитов
       *[other] начислено { $credits } кредита
    }. Ваш баланс: { $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }.
payment-unknown = Мы получили оплату, но не смогли сопоставить её с предложением. Отправьте /paysupport с кодом { $charge }.
paysupport = 💬 Поддержка по оплате
    Кредиты начисляются сразу после подтверждения оплаты Telegram. Если генерация не удалась, её кредиты автоматически возвращаются на баланс.
    Для возврата звёзд или при любой проблеме с оплатой напишите владельцу бота, указав код платежа (из чека об оплате в этом чате) и кратко опишите проблему. Мы отвечаем в течение 2 рабочих дней. Поддержка Telegram не помогает с покупками в этом боте.
invoice-generation-title = Одно видео: { $credits } { $credits ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }
invoice-generation-description = Одно видео с моделью { $model }: { $credits } { $credits ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }. Стоимость: { $stars } { $stars ->
        [one] звезда
        [few] звезды
        [many] звёзд
       *[other] звезды
    } Telegram. Генерация начнётся сразу после оплаты.
payment-order-expired = Этот заказ устарел или изменился. Откройте /generate и попробуйте снова; деньги не списаны.
payment-generation-started = ✅ Оплата получена: { $credits } { $credits ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }, видео заказано. Ваш баланс: { $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }. Пришлю видео сюда, как только оно будет готово.
payment-generation-kept = ✅ Оплата получена: { $credits ->
        [one] начислен { $credits } кредит
        [few] начислено { $credits } кредита
        [many] начислено { $credits } кредитов
       *[other] начислено { $credits } кредита
    }. Сам заказ устарел, поэтому генерация не запущена; кредиты остаются на балансе ({ $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }). Отправьте /generate, чтобы их использовать.
payment-generation-not-started = ✅ Оплата получена: { $credits ->
        [one] начислен { $credits } кредит
        [few] начислено { $credits } кредита
        [many] начислено { $credits } кредитов
       *[other] начислено { $credits } кредита
    }, но заказать видео не удалось:
    { $reason }
    Кредиты остаются на балансе ({ $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }). Отправьте /generate, чтобы попробовать снова.
