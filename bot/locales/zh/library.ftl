# /library：用户的视频，分页显示，每个视频都可操作。

library-title = 📚 您的视频（最新的在前）。点击编号打开。
library-empty = 📚 您的视频库还是空的。发送 /generate 制作第一个视频。
library-entry = { $number }. { $model } · { $date } · { $status }
    { $prompt }
library-card = 🎬 { $model } · { $date } · { $status }
    { $prompt }
library-status = { $status ->
    [queued] ⏳ 排队中
    [running] ⏳ 生成中
    [succeeded] ✅ 已完成
    [delivered] ✅ 已完成
    [failed] ❌ 失败
   *[cancelled] ✖ 已取消
}
library-button-open = { $number }
library-button-newer = ◀ 较新
library-button-older = 较早 ▶
library-button-regenerate = 🔁 再做一次
library-button-extend = ⏩ 延长
library-button-remix = 🎨 重混
library-button-delete = 🗑 删除
library-button-delete-yes = 🗑 确认删除
library-button-delete-no = 保留
library-delete-confirm = 要从视频库删除这个视频吗？删除后无法恢复。
library-deleted = 已从视频库删除。
library-delete-refused = 视频仍在生成或发送中，暂时不能删除。
library-not-found = 该视频不存在，或不属于您。
library-unknown-action = 这个按钮已失效。发送 /library 查看您的视频。
library-unavailable = 这个视频已不可用：保存的视频只保留一段时间。
library-action-unsupported = 该模型无法对这个视频执行此操作。
library-model-unavailable = 该模型已不再提供。
