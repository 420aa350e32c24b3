# The gallery Mini App (bot/webapp/): the chat menu button, /library's button, and the page's words.

webapp-menu-button = Мои видео
webapp-open-button = 🖼 Открыть галерею
webapp-title = 🖼 Мои видео
webapp-unauthorized = Эта страница работает, только если открыть её из бота в Telegram. Откройте чат с ботом и снова нажмите кнопку меню.
webapp-error = Что-то пошло не так. Попробуйте ещё раз.
webapp-retry = Попробовать ещё раз
webapp-send = 📤 Отправить в чат
webapp-sent = Отправлено в ваш чат с ботом.
webapp-send-failed = Сейчас не удалось отправить в чат. Попробуйте позже.
webapp-regenerate-confirm = 🔁 Сделать это видео ещё раз с теми же настройками?
webapp-regenerate-started = Заказано. Новое видео — вверху списка.
webapp-regenerate-unavailable = Это видео нельзя сделать ещё раз отсюда. Отправьте /library в чате, чтобы сделать его снова с другими настройками.
webapp-price-changed = Цена изменилась. Проверьте новую цену и подтвердите ещё раз.
webapp-expired = 🗄 больше не хранится
webapp-cancel = Отмена
webapp-end = Это все ваши видео.
webapp-generate-message = Нажмите кнопку, чтобы сделать новое видео.
webapp-generate-sent = Кнопка ждёт вас в чате с ботом.
