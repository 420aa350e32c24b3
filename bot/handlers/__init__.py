"""aiogram routers, one module per screen."""
