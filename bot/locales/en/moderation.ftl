# Moderation before any charge (services/moderation.py): refused orders, in the user's words. The matched
# word is never repeated; the category says what kind of content it is.

moderation-category = { $category ->
        [minors] sexual content involving minors
        [sexual] sexual content
        [violence] graphic violence
        [hate] hate speech
        [harassment] harassment
        [self_harm] self-harm
        [illegal] illegal activity
        [unchecked] not checked: the moderation service was unavailable
       *[other] other prohibited content
    }
moderation-refused = Your { $field ->
        [negative] negative prompt
       *[prompt] description
    } contains words our rules do not allow ({ moderation-category }). No credits were taken. Please rephrase it and try again.
moderation-unavailable = We could not check your description right now, so nothing was ordered and no credits were taken. Please try again in a few minutes.
moderation-banned = Your account is blocked from ordering videos. No credits were taken, and your balance is kept. If you think this is a mistake, contact the bot owner (/paysupport).
