"""Bot tests use the poller's rig: real services and store, a real Bot and Dispatcher, the fake Bot API."""

from tests.poller.conftest import polling, rig, rig_settings

__all__ = ["polling", "rig", "rig_settings"]
