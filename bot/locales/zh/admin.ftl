# 管理员命令（仅限 ADMIN_IDS）以及发给用户的相关通知。

admin-topup-usage = 用法：/topup <用户 id 或 @用户名> <数量> [原因]。数量为 1 到 { $max } 的整数。
admin-deduct-usage = 用法：/deduct <用户 id 或 @用户名> <数量> [原因]。数量为 1 到 { $max } 的整数。
admin-user-not-found = 找不到用户 { $ref }。请使用数字 id，或已启动过机器人的用户的 @用户名。
admin-already-applied = 该命令已执行过。余额：{ $balance } 积分。
admin-deduct-too-much = 无法从 { $user } 扣除 { $amount } 积分：余额只有 { $balance } 积分。未做任何更改。
admin-topup-done = ✅ 已为 { $user } 增加 { $amount } 积分。余额：{ $balance } 积分。
admin-deduct-done = ✅ 已从 { $user } 扣除 { $amount } 积分。余额：{ $balance } 积分。
admin-notify-failed = 无法通知用户 { $user }（已屏蔽机器人或从未启动过）。
admin-notify-topup = 🎁 管理员为您增加了 { $amount } 积分。当前余额：{ $balance } 积分。
admin-notify-deduct = 管理员从您的余额中扣除了 { $amount } 积分。当前余额：{ $balance } 积分。
admin-notify-reason = 原因：{ $reason }
admin-user-usage = 用法：/user <用户 id 或 @用户名>
admin-user-header = 👤 { $user }
    语言：{ $locale } · { $blocked ->
        [yes] 已屏蔽机器人
       *[no] 正常
    } · 注册于 { $since }
    余额：{ $balance } 积分
admin-user-generations = 最近的生成：
admin-user-no-generations = 没有生成记录。
admin-user-generation = • { $date } { $model } · { $status } · { $cost } 积分 · { $id }
admin-user-payments = 最近的付款：
admin-user-no-payments = 没有付款记录。
admin-user-payment = • { $date } { $stars } ⭐ → { $credits } 积分{ $refunded ->
    [yes] {" "}· 已退款
   *[no] {""}
} · { $charge }
admin-refund-usage = 用法：/refund <telegram_payment_charge_id> [用户 id，仅用于我们没有记录的付款]
admin-refund-unknown = 我们的记录中没有付款 { $charge }。如仍要通过 Telegram 退款，请加上付款人的用户 id：/refund { $charge } <用户 id>
admin-refund-already = 付款 { $charge } 已经退款。
admin-refund-not-found = Telegram 找不到该用户的付款 { $charge }。
admin-refund-failed = Telegram 拒绝退款 { $charge }：{ $error }
admin-refund-done = ✅ 已为 { $charge } 退还 { $stars } ⭐。收回 { $credits } 积分中的 { $debited } 积分；用户余额：{ $balance } 积分。
admin-refund-done-untracked = ✅ Telegram 已向用户 { $user } 退还 { $charge }。我们没有这笔付款的记录，因此未收回积分。
admin-stats-day = 📊 最近 24 小时
admin-stats-month = 📊 最近 30 天
admin-stats-generations = { $total } 次生成（{ $statuses }）
admin-stats-model = • { $model }：{ $count } 次生成（{ $credits } 积分）
admin-stats-more-models = • … 另有 { $count } 个模型
admin-stats-revenue = 收入：{ $stars } ⭐，来自 { $payments } 笔付款；已退款 { $refunded_stars } ⭐（{ $refunded } 笔）；净收入 { $net } ⭐
admin-stats-cost = 服务商成本 ≈ ${ $usd }{ $reported ->
    [0] {""}
   *[other] （其中 { $reported } 个视频按服务商报告的成本，其余为估算）
}{ $unpriced ->
    [0] {""}
   *[other] （另有 { $unpriced } 个视频在目录中没有价格）
}
admin-stats-margins = 💹 各模型与服务商的利润（1 积分 ≈ ${ $credit_usd }）：
admin-stats-margin = • { $model } · { $provider }：{ $count } 个视频，收入 ${ $revenue }，成本 ${ $cost }{ $reported ->
    [0] {""}
   *[other] （{ $reported } 个为服务商报告）
}，利润 ${ $margin }（{ $share }%）
admin-stats-users = { $count } 位新用户
admin-stats-uncertain = ⚠️ 提交结果不确定：{ $count } 次生成已退款，服务商可能已创建（并计费）任务
refund-notice = ⭐ 您支付的 { $stars } 颗星星已退款。{ $debited ->
    [0] 未收回积分。
   *[other] 已收回 { $debited } 积分。
}当前余额：{ $balance } 积分。
admin-stats-health = 🩺 本进程中各线路的当前状态（每条线路保留的最近结果数：{ $window }）：
admin-stats-health-none = • 暂无结果
admin-stats-route = • { $provider } · { $route }：{ $outcomes } 次中 { $videos } 次生成了视频（{ $share }%），生成视频用时中位数 { $median }{ $state ->
    [cooling] ，❄️ 暂停至 { $until } UTC
    [retrying] ，🔁 暂停已结束：正在重试
   *[ok] {""}
}
# 内容审核：审核记录（/audit）与封禁（/block、/unblock）。
admin-audit-usage = 用法：/audit [用户 id 或 @用户名]
admin-audit-title = 🛡 审核记录（最新的在前）：
admin-audit-title-user = 🛡 { $user } 的审核记录（最新的在前）：
admin-audit-empty = 🛡 暂无审核记录。
admin-audit-refusal = • { $date } · 用户 { $user } · { $source ->
        [api] 审核 API
       *[list] 词语列表
    } · { moderation-category }
    { $reason }
    “{ $prompt }”
admin-audit-block = • { $date } · 用户 { $user } · 🔒 被管理员 { $admin } 封禁
admin-audit-unblock = • { $date } · 用户 { $user } · 🔓 被管理员 { $admin } 解封
admin-audit-more = … 更早的记录未显示。
admin-block-usage = 用法：/block <用户 id 或 @用户名> [原因]
admin-unblock-usage = 用法：/unblock <用户 id 或 @用户名>
admin-block-done = 🔒 已封禁 { $user }：其订单会在扣费前被拒绝。余额和正在生成的视频保持不变。撤销：/unblock { $id }
admin-block-already = { $user } 已被封禁。未做任何更改。
admin-unblock-done = 🔓 已解封 { $user }，可以重新订购视频。
admin-unblock-already = { $user } 未被封禁。未做任何更改。
