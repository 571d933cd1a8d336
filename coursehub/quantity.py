"""Kubernetes resource quantities ("500m", "4Gi", "1.5") as plain numbers.

Shared by the catalog (validating course files) and the dev cluster's scheduler
(fitting requests into a node's allocatable), so both read quantities alike.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SUFFIXES = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]{0,2})\s*$")


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(value: str | int | float) -> Decimal:
    """Return the quantity as a Decimal in base units (cores, bytes, devices).

    Raises QuantityError naming the value and the accepted forms.
    """
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value))
    if not match or match.group(2) not in _SUFFIXES:
        raise QuantityError(
            f"{value!r} is not a Kubernetes quantity (examples: 2, 0.5, 500m, 512Mi, 4G, 16Gi)"
        )
    try:
        return Decimal(match.group(1)) * _SUFFIXES[match.group(2)]
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only numbers
        raise QuantityError(f"{value!r} is not a quantity") from exc


def format_memory(num_bytes: Decimal | int) -> str:
    """Human form of a byte count for messages, e.g. 17179869184 -> '16Gi'."""
    num = Decimal(num_bytes)
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _SUFFIXES[suffix]
        if num >= unit and num % unit == 0:
            return f"{num / unit:f}{suffix}".replace(".0" + suffix, suffix)
    return f"{num:f}"
