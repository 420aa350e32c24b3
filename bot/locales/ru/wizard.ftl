# Мастер генерации (/generate)
wizard-choose-model = 🎬 Выберите модель:
wizard-model-button = { $model } — от { $price } { $price ->
        [one] кредита
       *[other] кредитов
    }
wizard-choose-mode = ✨ { $model }: что будем делать?
# Названия режимов: коды (t2v, i2v …) пользователю не показываются; ошибки используют mode-*, кнопки wizard-mode-*.
mode-t2v = Текст → видео
mode-i2v = Изображение → видео
mode-fl2v = Первый и последний кадр → видео
mode-ref2v = Референсы → видео
mode-extend = Продлить видео
mode-remix = Ремикс видео
wizard-mode-t2v = 📝 { mode-t2v }
wizard-mode-i2v = 🖼 { mode-i2v }
wizard-mode-fl2v = 🎞 { mode-fl2v }
wizard-mode-ref2v = 🧩 { mode-ref2v }
wizard-mode-extend = ⏩ { mode-extend }
wizard-mode-remix = 🔀 { mode-remix }
wizard-choose-settings = ⚙️ { $model } · { $mode }
    Выберите настройки (обычные уже отмечены) и нажмите «Продолжить».
wizard-seconds = { $seconds } с
wizard-audio-on = 🔊 Со звуком
wizard-audio-off = 🔇 Без звука
wizard-next = Продолжить ➡️
wizard-send-first = 🖼 Отправьте изображение для первого кадра: фото или файл (JPEG, PNG или WEBP, до { $max_mb } МБ).
wizard-send-last = 🖼 Теперь отправьте изображение для последнего кадра: фото или файл (JPEG, PNG или WEBP, до { $max_mb } МБ).
wizard-send-refs = 🧩 { $max ->
        [1] Отправьте 1 референсное изображение — фото или файл (JPEG, PNG или WEBP, до { $max_mb } МБ).
       *[other] Отправьте от 1 до { $max } { $max ->
            [one] референсного изображения
           *[other] референсных изображений
        } — фото или файлы (JPEG, PNG или WEBP, до { $max_mb } МБ каждый).
    } Получено: { $count }.
wizard-keep-image = Оставить это изображение ➡️
wizard-refs-done = Готово ➡️
wizard-enter-prompt = ✍️ Опишите видео, которое хотите получить (до { $max } { $max ->
        [one] символа
       *[other] символов
    }).
wizard-current-prompt = Текущее описание: { $prompt }
wizard-keep-prompt = Оставить это описание ➡️
wizard-summary-title = 📋 Ваше видео
wizard-summary-model = Модель: { $model } · { $mode }
wizard-summary-settings = Настройки: { $duration } · { $aspect } · { $resolution } · { $audio }
wizard-summary-images = Изображений: { $count }
wizard-summary-prompt = Описание: { $prompt }
wizard-summary-price = Стоимость: { $price } { $price ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }
wizard-pay-credits = 💳 Заплатить { $price } { $price ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }
wizard-pay-stars = ⭐ Заплатить { $stars } { $stars ->
        [one] звезду
        [few] звезды
        [many] звёзд
       *[other] звезды
    }
wizard-change = ✏️ Изменить настройки
wizard-change-what = ✏️ Что изменить?
wizard-change-model = Модель
wizard-change-mode = Тип видео
wizard-change-settings = Длительность, формат и звук
wizard-change-first = Первый кадр
wizard-change-last = Последний кадр
wizard-change-refs = Референсы
wizard-change-prompt = Описание
wizard-back = ⬅️ Назад
wizard-cancel = ✖ Отмена
wizard-cancelled = Отменено. Отправьте /generate, чтобы начать заново.
wizard-stale = Это меню устарело. Отправьте /generate, чтобы начать заново.
wizard-option-unavailable = Этот вариант недоступен.
wizard-started = ✅ Заказано: { $model } за { $price } { $price ->
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
    Пришлю видео сюда, как только оно будет готово.
wizard-stars-hint = Это видео можно оплатить и звёздами Telegram.
wizard-limit-active = У вас уже { $limit } видео в работе. Дождитесь, пока одно из них будет готово, и попробуйте снова.
wizard-limit-rate = Можно заказать не больше { $limit } видео в минуту. Подождите немного и попробуйте снова.
wizard-image-download-failed = Не удалось скачать этот файл из Telegram. Отправьте его ещё раз.
wizard-expects-image = Отправьте изображение: фото или файл с картинкой.
wizard-expects-text = Напишите описание текстовым сообщением.
# Опции в сводке — там, где их принимает маршрут, способный сделать видео; выключены, пока их не нажмут.
wizard-option-negative-prompt = 🚫 Негативный промпт
wizard-option-seed = 🎲 Свой сид
wizard-option-enhance-prompt = ✨ Улучшить описание
wizard-option-translate-prompt = 🌐 Перевести описание на английский
wizard-summary-negative = Негативный промпт: { $prompt }
wizard-summary-seed = Сид: { $id }
wizard-summary-enhance-prompt = Провайдер улучшит описание, прежде чем сделать видео.
wizard-summary-translate-prompt = Провайдер сначала переведёт описание на английский.
wizard-enter-negative = 🚫 Чего не должно быть в видео? Напишите это текстовым сообщением (негативный промпт) или нажмите «Назад».
wizard-expects-negative = Напишите негативный промпт текстовым сообщением.
wizard-enter-seed = 🎲 Отправьте сид — целое число. С тем же сидом и теми же настройками снова получится похожее видео. Или нажмите «Случайный».
wizard-seed-random = 🎲 Случайный
error-enhance-prompt-unsupported = { $model } не умеет улучшать описание.
error-translate-prompt-unsupported = { $model } не умеет переводить описание.
# Варианты: несколько видео по одному запросу сразу, у каждого своя цена, оплата и доставка.
wizard-summary-variants = 🎞 Варианты: { $count }
wizard-summary-price-variants = Цена: { $price } { $price ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    } за видео, { $total } { $total ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    } за { $count } видео
wizard-variants-started = ✅ Заказано { $count } видео ({ $model }): { $price } { $price ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    } за каждое, всего { $total } { $total ->
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
    Пришлю каждое видео сюда, как только оно будет готово.
wizard-variants-partial = ✅ Заказано { $placed } из { $count } видео ({ $model }) на { $total } { $total ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }; остальные заказать не удалось:
    { $reason }
    Ваш баланс: { $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }. Пришлю каждое видео сюда, как только оно будет готово.
wizard-variants-stars-hint = Эти видео можно оплатить и звёздами Telegram.
wizard-variants-limit-active = Одновременно в работе может быть не больше { $limit } видео — для { $count } видео сейчас нет места. Выберите меньше вариантов или дождитесь, пока одно из видео будет готово.
wizard-variants-limit-rate = Можно заказать не больше { $limit } видео в минуту — { $count } видео сейчас не поместятся. Выберите меньше вариантов или подождите немного.
error-variants-count = Число вариантов должно быть от 1 до { $max }.
invoice-variants-title = { $count } видео: { $credits } { $credits ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }
invoice-variants-description = { $count } видео с моделью { $model }: всего { $credits } { $credits ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }. Стоимость: { $stars } { $stars ->
        [one] звезда
        [few] звезды
        [many] звёзд
       *[other] звезды
    } Telegram. Видео начнут создаваться сразу после оплаты.
payment-variants-started = ✅ Оплата получена: { $credits } { $credits ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }, заказано { $count } видео. Ваш баланс: { $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }. Пришлю каждое видео сюда, как только оно будет готово.
payment-variants-partial = ✅ Оплата получена: { $credits ->
        [one] начислен { $credits } кредит
        [few] начислено { $credits } кредита
        [many] начислено { $credits } кредитов
       *[other] начислено { $credits } кредита
    }. Заказано { $placed } из { $count } видео, остальные заказать не удалось:
    { $reason }
    Их кредиты остаются на балансе ({ $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }).
payment-variants-not-started = ✅ Оплата получена: { $credits ->
        [one] начислен { $credits } кредит
        [few] начислено { $credits } кредита
        [many] начислено { $credits } кредитов
       *[other] начислено { $credits } кредита
    }, но заказать эти видео не удалось:
    { $reason }
    Кредиты остаются на балансе ({ $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }). Отправьте /generate, чтобы попробовать снова.
