"""Type aliases and the NOT_GIVEN sentinel."""

from __future__ import annotations

import enum
from typing import Final, Literal

__all__ = ["NOT_GIVEN", "NotGiven"]


class NotGiven(enum.Enum):
    """The type of :data:`NOT_GIVEN`.

    ``None`` is not enough to mean "not given": for the nullable body fields
    (``temperature``, ``stop``, ...) an explicit ``None`` is sent as JSON
    ``null``, and for ``retries=`` it turns retrying off.
    """

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> Literal[False]:
        return False


#: "Use the default": the parameter is left out of the request body, or the
#: client-level setting applies.
NOT_GIVEN: Final = NotGiven.NOT_GIVEN
