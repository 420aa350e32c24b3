"""/library as a Telegram Mini App: a gallery of the user's videos, served by the bot's web app.

`routes.mount` adds the page (bot/webapp/static/: plain HTML, CSS and JS, no build step) and its JSON
API (`api`) to the web app; `auth` checks Telegram's initData on every API call; `links` gives the chat
menu button and /library's button that open it. The page works on the same services as the chat.
"""
