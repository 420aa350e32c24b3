# The gallery Mini App (bot/webapp/): the chat menu button, /library's button, and the page's words.

webapp-menu-button = 我的视频
webapp-open-button = 🖼 打开图库
webapp-title = 🖼 我的视频
webapp-unauthorized = 此页面只能从 Telegram 中的机器人打开。请打开与机器人的聊天，再点一次菜单按钮。
webapp-error = 出了点问题，请重试。
webapp-retry = 重试
webapp-send = 📤 发送到聊天
webapp-sent = 已发送到您与机器人的聊天。
webapp-send-failed = 暂时无法发送到聊天，请稍后再试。
webapp-regenerate-confirm = 🔁 用相同的设置再做一次这个视频？
webapp-regenerate-started = 已下单。新视频在列表顶部。
webapp-regenerate-unavailable = 这个视频无法在这里再做一次。请在聊天中发送 /library，用其他设置重新制作。
webapp-price-changed = 价格已变动。请查看新价格后再次确认。
webapp-expired = 🗄 已不再保存
webapp-cancel = 取消
webapp-end = 这就是您的全部视频。
webapp-generate-message = 点击按钮制作新视频。
webapp-generate-sent = 按钮已发送到您与机器人的聊天。
