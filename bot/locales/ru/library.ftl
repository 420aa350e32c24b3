# /library: видео пользователя по страницам, с действиями над каждым.

library-title = 📚 Ваши видео, сначала новые. Нажмите номер, чтобы открыть.
library-empty = 📚 В библиотеке пока пусто. Отправьте /generate, чтобы сделать первое видео.
library-entry = { $number }. { $model } · { $date } · { $status }
    { $prompt }
library-card = 🎬 { $model } · { $date } · { $status }
    { $prompt }
library-status = { $status ->
    [queued] ⏳ в очереди
    [running] ⏳ создаётся
    [succeeded] ✅ готово
    [delivered] ✅ готово
    [failed] ❌ не удалось
   *[cancelled] ✖ отменено
}
library-button-open = { $number }
library-button-newer = ◀ Новее
library-button-older = Старше ▶
library-button-regenerate = 🔁 Сделать ещё раз
library-button-extend = ⏩ Продлить
library-button-remix = 🎨 Ремикс
library-button-delete = 🗑 Удалить
library-button-delete-yes = 🗑 Да, удалить
library-button-delete-no = Оставить
library-delete-confirm = Удалить это видео из библиотеки? Это нельзя отменить.
library-deleted = Удалено из библиотеки.
library-delete-refused = Это видео нельзя удалить, пока оно создаётся или отправляется.
library-not-found = Такого видео нет, или оно не ваше.
library-unknown-action = Эта кнопка больше не действует. Отправьте /library, чтобы увидеть свои видео.
library-unavailable = Это видео больше недоступно: сохранённые видео хранятся ограниченное время.
library-action-unsupported = Эта модель не умеет делать такое с этим видео.
library-model-unavailable = Эта модель больше недоступна.
