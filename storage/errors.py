"""Errors a storage backend raises for conditions the caller must handle."""


class StorageError(Exception):
    """A backend failed in a way the caller cannot fix by changing its input."""


class UnknownUserError(StorageError):
    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} does not exist")
        self.user_id = user_id


class UnsafeMediaPathError(StorageError):
    """A media path tried to leave its store (absolute, `..`, or odd characters)."""


class MediaTooLargeError(StorageError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"media object exceeds {limit} bytes")
        self.limit = limit
