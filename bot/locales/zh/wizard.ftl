# 视频生成向导 (/generate)
wizard-choose-model = 🎬 请选择模型：
wizard-model-button = { $model } — { $price } 积分起
wizard-choose-mode = ✨ { $model }：您想制作什么？
# 模式名称：代码（t2v、i2v …）不会显示给用户；错误消息使用 mode-*，按钮使用 wizard-mode-*。
mode-t2v = 文字 → 视频
mode-i2v = 图片 → 视频
mode-fl2v = 首尾帧 → 视频
mode-ref2v = 参考图 → 视频
mode-extend = 延长视频
mode-remix = 重混视频
wizard-mode-t2v = 📝 { mode-t2v }
wizard-mode-i2v = 🖼 { mode-i2v }
wizard-mode-fl2v = 🎞 { mode-fl2v }
wizard-mode-ref2v = 🧩 { mode-ref2v }
wizard-mode-extend = ⏩ { mode-extend }
wizard-mode-remix = 🔀 { mode-remix }
wizard-choose-settings = ⚙️ { $model } · { $mode }
    请选择设置（已预选常用设置），然后点击“继续”。
wizard-seconds = { $seconds } 秒
wizard-audio-on = 🔊 有声音
wizard-audio-off = 🔇 无声音
wizard-next = 继续 ➡️
wizard-send-first = 🖼 请发送首帧图片：照片或图片文件（JPEG、PNG 或 WEBP，最大 { $max_mb } MB）。
wizard-send-last = 🖼 请发送尾帧图片：照片或图片文件（JPEG、PNG 或 WEBP，最大 { $max_mb } MB）。
wizard-send-refs = 🧩 请发送 1 到 { $max } 张参考图，照片或图片文件均可（JPEG、PNG 或 WEBP，每张最大 { $max_mb } MB）。已收到：{ $count }。
wizard-keep-image = 保留这张图片 ➡️
wizard-refs-done = 完成 ➡️
wizard-enter-prompt = ✍️ 请描述您想要的视频（最多 { $max } 个字符）。
wizard-current-prompt = 当前描述：{ $prompt }
wizard-keep-prompt = 保留此描述 ➡️
wizard-summary-title = 📋 您的视频
wizard-summary-model = 模型：{ $model } · { $mode }
wizard-summary-settings = 设置：{ $duration } · { $aspect } · { $resolution } · { $audio }
wizard-summary-images = 图片：{ $count } 张
wizard-summary-prompt = 描述：{ $prompt }
wizard-summary-price = 价格：{ $price } 积分
wizard-pay-credits = 💳 支付 { $price } 积分
wizard-pay-stars = ⭐ 支付 { $stars } 颗星星
wizard-change = ✏️ 修改设置
wizard-change-what = ✏️ 您想修改什么？
wizard-change-model = 模型
wizard-change-mode = 视频类型
wizard-change-settings = 时长、画幅和声音
wizard-change-first = 首帧
wizard-change-last = 尾帧
wizard-change-refs = 参考图
wizard-change-prompt = 描述
wizard-back = ⬅️ 返回
wizard-cancel = ✖ 取消
wizard-cancelled = 已取消。发送 /generate 重新开始。
wizard-stale = 此菜单已过期。发送 /generate 重新开始。
wizard-option-unavailable = 此选项不可用。
wizard-started = ✅ 已下单：{ $model }，{ $price } 积分。您的余额：{ $balance } 积分。
    视频完成后我会立即发送到这里。
wizard-stars-hint = 您也可以使用 Telegram 星星支付此视频。
wizard-limit-active = 您已有 { $limit } 个视频正在生成。请等待其中一个完成后再试。
wizard-limit-rate = 每分钟最多可下单 { $limit } 个视频。请稍候再试。
wizard-image-download-failed = 无法从 Telegram 下载此文件。请重新发送。
wizard-expects-image = 请发送图片：照片或图片文件。
wizard-expects-text = 请以文字消息输入描述。
# 摘要中的选项：仅在能生成该视频的路线支持时显示；默认关闭。
wizard-option-negative-prompt = 🚫 负面提示词
wizard-option-seed = 🎲 固定随机种子
wizard-option-enhance-prompt = ✨ 优化描述
wizard-option-translate-prompt = 🌐 将描述翻译成英文
wizard-summary-negative = 负面提示词：{ $prompt }
wizard-summary-seed = 随机种子：{ $id }
wizard-summary-enhance-prompt = 服务商会在生成视频前优化描述。
wizard-summary-translate-prompt = 服务商会先将描述翻译成英文。
wizard-enter-negative = 🚫 视频中不应出现什么？请以文字消息发送（负面提示词），或点击“返回”。
wizard-expects-negative = 请以文字消息发送负面提示词。
wizard-enter-seed = 🎲 请发送随机种子：一个整数。相同的种子和设置会再次生成相似的视频。或点击“随机”。
wizard-seed-random = 🎲 随机
error-enhance-prompt-unsupported = { $model } 不支持优化描述。
error-translate-prompt-unsupported = { $model } 不支持翻译描述。
# 多个版本：同一请求一次下单多个视频，每个视频单独计价、付款和发送。
wizard-summary-variants = 🎞 版本数：{ $count }
wizard-summary-price-variants = 价格：每个视频 { $price } 积分，{ $count } 个视频共 { $total } 积分
wizard-variants-started = ✅ 已下单：{ $model }，{ $count } 个视频，每个 { $price } 积分，共 { $total } 积分。您的余额：{ $balance } 积分。
    每个视频完成后我会立即发送到这里。
wizard-variants-partial = ✅ 已下单 { $count } 个视频中的 { $placed } 个（{ $model }），共 { $total } 积分；其余的无法下单：
    { $reason }
    您的余额：{ $balance } 积分。每个视频完成后我会立即发送到这里。
wizard-variants-stars-hint = 您也可以使用 Telegram 星星支付这些视频。
wizard-variants-limit-active = 最多可同时生成 { $limit } 个视频，现在无法再容纳 { $count } 个视频。请选择更少的版本，或等待其中一个完成。
wizard-variants-limit-rate = 每分钟最多可下单 { $limit } 个视频，现在无法再下单 { $count } 个视频。请选择更少的版本，或稍候再试。
error-variants-count = 版本数必须在 1 到 { $max } 之间。
invoice-variants-title = { $count } 个视频：{ $credits } 积分
invoice-variants-description = 使用 { $model } 生成 { $count } 个视频：共 { $credits } 积分，使用 { $stars } 颗 Telegram 星星支付。付款到账后立即开始生成。
payment-variants-started = ✅ 已收到付款：{ $credits } 积分，{ $count } 个视频已下单。您的余额：{ $balance } 积分。每个视频完成后我会立即发送到这里。
payment-variants-partial = ✅ 已收到付款：已添加 { $credits } 积分。{ $count } 个视频中已下单 { $placed } 个，其余的无法下单：
    { $reason }
    未使用的积分保留在您的余额中（{ $balance } 积分）。
payment-variants-not-started = ✅ 已收到付款：已添加 { $credits } 积分，但无法下单这些视频：
    { $reason }
    积分保留在您的余额中（{ $balance } 积分）。发送 /generate 即可重试。
