# 简体中文。

start-welcome = 您好，{ $name }！我可以用 Veo、Sora、Vidu、Kling 等 AI 模型为您生成视频。
    您的余额：{ $balance } 积分。
balance = 您的余额：{ $balance } 积分。
unknown-command = 抱歉，我不认识这个命令。发送 /help 查看我能做什么。
insufficient-funds = 积分不足：需要 { $price } 积分，您有 { $balance } 积分，还差 { $shortfall } 积分。

error-model-mismatch = 该请求不属于模型 { $model }。
error-model-unavailable = 该模型当前不可用。
error-mode-unsupported = { $model } 不支持“{ $mode }”模式。
error-duration-not-allowed = 不支持该时长。可选：{ $allowed } 秒。
error-aspect-not-allowed = 不支持该画面比例。可选：{ $allowed }。
error-resolution-not-allowed = 不支持该分辨率。可选：{ $allowed }。
error-audio-always = { $model } 总是生成声音，无法关闭。
error-audio-unsupported = { $model } 只能生成无声视频。
error-prompt-empty = 请描述您想要的视频。
error-prompt-too-long = 描述太长：{ $length } 个字符，最多 { $max } 个。
error-negative-prompt-unsupported = { $model } 不支持负面提示词。
error-negative-prompt-too-long = 负面提示词太长：最多 { $max } 个字符。
error-seed-unsupported = { $model } 不支持随机种子。
error-seed-range = 随机种子必须是 0 到 { $max } 之间的整数。
error-first-frame-required = 请发送首帧图片。
error-last-frame-required = 请发送尾帧图片。
error-image-not-expected = “{ $mode }”模式不使用该图片。
error-reference-count = 请发送 1 到 { $max } 张参考图（当前 { $count } 张）。
error-source-required = 请在 /library 中选择要延长或重混的视频。
error-source-not-expected = “{ $mode }”模式不使用之前的视频。
error-no-route = 目前没有服务商能以这些设置生成 { $model }。请尝试其他设置。

rule-hd-needs-8s = 1080p 和 4K 视频时长为 8 秒。请选择 8 秒或更低的分辨率。
rule-mode-needs-8s = 此模式只能生成 8 秒视频。请选择 8 秒。
rule-extend-720p = 只能延长 720p 的视频。
rule-8s-needs-720p = 8 秒视频仅支持 720p。
rule-music-needs-4s = 背景音乐仅适用于 4 秒视频。

error-image-unsupported-format = 不支持该图片格式（{ $format }）。请发送 JPEG、PNG 或 WEBP 图片。
error-image-corrupt = 文件已损坏或不是图片。请发送 JPEG、PNG 或 WEBP 图片。
error-image-too-large = 图片太大：最多 { $max_mb } MB。
error-image-too-many-pixels = 图片像素太多：最多 { $max_megapixels } 百万像素。
error-image-too-small = 图片太小（{ $width }×{ $height }）；每边至少需要 { $min } 像素。

# progress, delivery and failures (sent by the poller)
progress-running = ⏳ { $model }：正在生成视频…
    { $bar } { $progress }%
progress-waiting = ⏳ { $model }：正在生成视频…已用时 { $elapsed }。
button-cancel = ✖ 取消
video-caption = 🎬 { $model }
    { $prompt }
video-link = 视频已生成（{ $size_mb } MB），但超出 Telegram 的发送上限。请在此下载（链接 { $hours } 小时内有效）：{ $url }
video-no-link = 视频已生成（{ $size_mb } MB），但超出 Telegram 的发送上限，且本机器人未配置下载链接。请联系客服，编号 { $id }。
failure-refund = { $credits } 积分已退回您的余额。
failure-content_policy = ❌ 服务商的安全过滤器拒绝了此请求。
failure-no_video = ❌ 服务商完成了任务但没有生成视频（通常是安全过滤）。
failure-timeout = ❌ 服务商耗时过长，生成已停止。
failure-provider_failed = ❌ 服务商无法生成此视频。
failure-image_changed = ❌ 输入图片在任务规划后被修改，因此未发送。
failure-no_route = ❌ 目前没有服务商可以接受此请求。
failure-invalid_request = ❌ 服务商不接受这些设置。
failure-download_failed = ❌ 无法从服务商下载已完成的视频。
failure-too_large = ❌ 生成的视频超出了本机器人可存储的大小。
failure-model_unavailable = ❌ 此模型已不可用。
failure-source_unavailable = ❌ 要延长或重混的视频已不可用。
failure-image_unavailable = ❌ 无法读取您的图片以提交给服务商。
failure-uncertain_submit = ❌ 服务商未确认已开始生成此视频，因此生成已停止。
generation-rerouted = 🔁 服务商自身出现故障，现已改由另一家服务商为您生成视频，不另收费。
failure-cancelled = 生成已取消。
cancel-done = 已取消。{ $credits } 积分已退回您的余额。
cancel-too-late = 此生成已无法取消。
cancel-not-found = 此生成不存在或不属于您。
