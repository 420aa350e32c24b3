# /balance 记录与新用户赠送积分。

balance-user-id = 您的用户 ID：{ $id }
balance-history = 最近变动：
balance-history-empty = 暂无变动。
balance-entry = { $when }  { $sign }{ $amount } 积分 · { $what }
balance-kind-purchase = 使用星星购买
balance-kind-debit = 视频
balance-kind-refund = 视频退款
balance-kind-admin = 管理员调整
balance-kind-payment_refund = 星星付款已退款
balance-kind-welcome = 🎁 新用户赠送
admin-stats-welcome = 新用户赠送积分：{ $credits }，共 { $users } 位用户
