# 主菜单、/help、/language、/cancel 以及 Telegram 菜单中的命令列表。

menu-generate = 🎬 新视频
menu-library = 📚 我的视频
menu-buy = ⭐ 购买积分
menu-balance = 💰 余额
help =
    🎬 /generate — 生成视频：选择模型和设置，按模式需要添加图片，描述视频，然后用积分或 Telegram 星星付款。
    📚 /library — 您的视频：重新发送、再次生成、延长或重混、删除。
    💰 /balance — 您的积分。⭐ /buy — 用 Telegram 星星购买积分。
    🌐 /language — 更改语言。✖ /cancel — 停止当前操作。
    💬 /paysupport — 付款问题与退款。
    如果生成失败，积分会自动退回您的余额。
language-choose = 请选择语言：
language-set = 语言已切换为中文。
cancel-nothing = 没有可取消的操作。
cancel-wizard = 已停止，未扣除任何积分。
stray-message = 发送 /generate 生成视频，或发送 /help 查看我能做的一切。
stale-button = 这个按钮已失效。发送 /start 重新开始。
cmd-start = 主菜单
cmd-generate = 生成视频
cmd-library = 我的视频
cmd-balance = 我的余额
cmd-buy = 用星星购买积分
cmd-paysupport = 付款支持
cmd-help = 我能做什么
cmd-language = 更改语言
cmd-cancel = 停止当前步骤
cmd-topup = 管理员：增加积分
cmd-deduct = 管理员：扣除积分
cmd-user = 管理员：查询用户
cmd-refund = 管理员：退还星星付款
cmd-stats = 管理员：统计
cmd-audit = 管理员：审核拒绝与封禁记录
cmd-block = 管理员：禁止用户下单
cmd-unblock = 管理员：解除禁止
language-name = 🇨🇳 中文
