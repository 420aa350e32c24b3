# Telegram 星星支付
buy-choose = 请选择积分套餐，使用 Telegram 星星 ⭐ 支付。
buy-pack-button = { $credits } 积分 — { $stars } ⭐
buy-pack-gone = 此套餐已下架。发送 /buy 查看当前套餐。
invoice-pack-title = { $credits } 积分
invoice-pack-description = { $credits } 积分，用于生成视频，使用 { $stars } 颗 Telegram 星星支付。
payment-invalid = 此优惠已变更或过期。请发送 /buy 重试；您未被扣款。
payment-credited = ✅ 已收到付款：已添加 { $credits } 积分。您的余额：{ $balance } 积分。
payment-unknown = 我们已收到您的付款，但无法匹配到对应的优惠。请发送 /paysupport 并附上编号 { $charge }。
paysupport = 💬 支付支持
    Telegram 确认付款后积分会立即到账。如果生成失败，其积分会自动退回您的余额。
    如需退还星星或遇到任何支付问题，请联系机器人所有者，并附上付款编号（见本聊天中的付款凭证）和简要说明。我们会在 2 个工作日内回复。Telegram 客服无法处理本机器人内的购买问题。
invoice-generation-title = 一个视频：{ $credits } 积分
invoice-generation-description = 使用 { $model } 生成一个视频：{ $credits } 积分，使用 { $stars } 颗 Telegram 星星支付。付款到账后立即开始生成。
payment-order-expired = 此订单已过期或已变更。请打开 /generate 重试；您未被扣款。
payment-generation-started = ✅ 已收到付款：{ $credits } 积分，视频已下单。您的余额：{ $balance } 积分。视频完成后我会立即发送到这里。
payment-generation-kept = ✅ 已收到付款：已添加 { $credits } 积分。订单本身已过期，因此没有开始生成；积分保留在您的余额中（{ $balance } 积分）。发送 /generate 即可使用。
payment-generation-not-started = ✅ 已收到付款：已添加 { $credits } 积分，但无法下单视频：
    { $reason }
    积分保留在您的余额中（{ $balance } 积分）。发送 /generate 重试。
