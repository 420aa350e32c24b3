# Русский.

start-welcome = Привет, { $name }! Я создаю видео с помощью нейросетей: Veo, Sora, Vidu, Kling и других.
    Ваш баланс: { $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }.
balance = Ваш баланс: { $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }.
unknown-command = Такой команды я не знаю. Отправьте /help, чтобы увидеть, что я умею.
insufficient-funds = Недостаточно кредитов: стоимость — { $price } { $price ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }, у вас { $balance } { $balance ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }. Нужно ещё { $shortfall } { $shortfall ->
        [one] кредит
        [few] кредита
        [many] кредитов
       *[other] кредита
    }.

error-model-mismatch = Этот запрос относится не к модели { $model }.
error-model-unavailable = Эта модель сейчас недоступна.
error-mode-unsupported = { $model } не поддерживает режим «{ $mode }».
error-duration-not-allowed = Такая длительность недоступна. Выберите: { $allowed } с.
error-aspect-not-allowed = Такое соотношение сторон недоступно. Выберите: { $allowed }.
error-resolution-not-allowed = Такое разрешение недоступно. Выберите: { $allowed }.
error-audio-always = { $model } всегда создаёт звук, отключить его нельзя.
error-audio-unsupported = { $model } создаёт только видео без звука.
error-prompt-empty = Опишите, какое видео вы хотите.
error-prompt-too-long = Описание слишком длинное: { $length } { $length ->
        [one] символ
        [few] символа
        [many] символов
       *[other] символа
    }, допустимо не больше { $max }.
error-negative-prompt-unsupported = { $model } не принимает негативный промпт.
error-negative-prompt-too-long = Негативный промпт слишком длинный: допустимо не больше { $max } { $max ->
        [one] символа
       *[other] символов
    }.
error-seed-unsupported = { $model } не принимает сид.
error-seed-range = Сид должен быть целым числом от 0 до { $max }.
error-first-frame-required = Отправьте изображение для первого кадра.
error-last-frame-required = Отправьте изображение для последнего кадра.
error-image-not-expected = В режиме «{ $mode }» это изображение не используется.
error-reference-count = { $max ->
        [1] Отправьте 1 референсное изображение
       *[other] Отправьте от 1 до { $max } { $max ->
            [one] референсного изображения
           *[other] референсных изображений
        }
    } (сейчас: { $count }).
error-source-required = Выберите в /library видео для продления или ремикса.
error-source-not-expected = В режиме «{ $mode }» прежнее видео не используется.
error-no-route = Сейчас ни один провайдер не может сделать { $model } с такими настройками. Попробуйте другие.

rule-hd-needs-8s = Видео в 1080p и 4K длятся 8 секунд. Выберите 8 секунд или меньшее разрешение.
rule-mode-needs-8s = В этом режиме видео длятся только 8 секунд. Выберите 8 секунд.
rule-extend-720p = Продлить можно только видео в 720p.
rule-8s-needs-720p = Видео длиной 8 секунд доступны только в 720p.
rule-music-needs-4s = Фоновая музыка доступна только для видео длиной 4 секунды.

error-image-unsupported-format = Формат изображения ({ $format }) не поддерживается. Отправьте JPEG, PNG или WEBP.
error-image-corrupt = Файл повреждён или это не изображение. Отправьте JPEG, PNG или WEBP.
error-image-too-large = Изображение слишком большое: не больше { $max_mb } МБ.
error-image-too-many-pixels = В изображении слишком много пикселей: допустимо не больше { $max_megapixels } { $max_megapixels ->
        [one] мегапикселя
       *[other] мегапикселей
    }.
error-image-too-small = Изображение слишком маленькое ({ $width }×{ $height }); каждая сторона должна быть не меньше { $min } { $min ->
        [one] пикселя
       *[other] пикселей
    }.

# progress, delivery and failures (sent by the poller)
progress-running = ⏳ { $model }: создаю видео…
    { $bar } { $progress }%
progress-waiting = ⏳ { $model }: создаю видео… прошло { $elapsed }.
button-cancel = ✖ Отменить
video-caption = 🎬 { $model }
    { $prompt }
video-link = Видео готово ({ $size_mb } МБ), но слишком велико для отправки в Telegram. Скачайте его здесь (ссылка действует { $hours } { $hours ->
        [one] час
        [few] часа
        [many] часов
       *[other] часа
    }): { $url }
video-no-link = Видео готово ({ $size_mb } МБ), но слишком велико для Telegram, а загрузка по ссылке в этом боте не настроена. Напишите в поддержку, код { $id }.
failure-refund = { $credits ->
        [one] { $credits } кредит возвращён
        [few] { $credits } кредита возвращено
        [many] { $credits } кредитов возвращено
       *[other] { $credits } кредита возвращено
    } на ваш баланс.
failure-content_policy = ❌ Фильтр безопасности провайдера отклонил этот запрос.
failure-no_video = ❌ Провайдер завершил работу без видео (часто из-за фильтра безопасности).
failure-timeout = ❌ Провайдер работал слишком долго, генерация остановлена.
failure-provider_failed = ❌ Провайдер не смог создать это видео.
failure-image_changed = ❌ Исходное изображение изменилось после того, как задание было составлено, поэтому оно не отправлено.
failure-no_route = ❌ Сейчас ни один провайдер не может принять этот запрос.
failure-invalid_request = ❌ Провайдер не принял эти настройки.
failure-download_failed = ❌ Не удалось скачать готовое видео у провайдера.
failure-too_large = ❌ Готовое видео больше, чем бот может сохранить.
failure-model_unavailable = ❌ Эта модель больше недоступна.
failure-source_unavailable = ❌ Исходное видео для продления или ремикса больше недоступно.
failure-image_unavailable = ❌ Не удалось прочитать ваше изображение для провайдера.
failure-uncertain_submit = ❌ Провайдер не подтвердил, что начал создавать это видео, поэтому генерация остановлена.
generation-rerouted = 🔁 У провайдера произошёл сбой на его стороне, поэтому видео теперь делает другой провайдер, без доплаты.
failure-cancelled = Генерация отменена.
cancel-done = Отменено. { $credits ->
        [one] { $credits } кредит возвращён
        [few] { $credits } кредита возвращено
        [many] { $credits } кредитов возвращено
       *[other] { $credits } кредита возвращено
    } на ваш баланс.
cancel-too-late = Эту генерацию уже нельзя отменить.
cancel-not-found = Такой генерации нет или она не ваша.
