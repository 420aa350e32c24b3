# 扣费前的内容审核（services/moderation.py）：以用户的语言说明拒绝原因。不复述命中的词，只说明内容类别。

moderation-category = { $category ->
        [minors] 涉及未成年人的色情内容
        [sexual] 色情内容
        [violence] 血腥暴力
        [hate] 仇恨言论
        [harassment] 骚扰辱骂
        [self_harm] 自我伤害
        [illegal] 违法活动
        [unchecked] 未检查：审核服务暂不可用
       *[other] 其他违规内容
    }
moderation-refused = 您的{ $field ->
        [negative] 负面提示词
       *[prompt] 描述
    }包含我们规则不允许的词语（{ moderation-category }）。未扣除任何积分。请修改后重试。
moderation-unavailable = 暂时无法检查您的描述，因此未下单，也未扣除任何积分。请几分钟后重试。
moderation-banned = 您的账户已被禁止订购视频。未扣除任何积分，余额保持不变。如果您认为这是误会，请联系机器人所有者（/paysupport）。
