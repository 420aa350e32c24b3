"""Provider adapters, one module per provider API, behind `services.providers.base.VideoProvider`."""
