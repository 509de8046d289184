"""The reconciliation policy: matching windows and tolerances, known fees, break SLAs and
the write-off threshold above which a second person must approve.

A maker-checker configuration document (`reconciliation`); a statement is matched under
the version that was current when it arrived, and records which one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import BaseModel, Field, field_validator


@dataclass(frozen=True)
class KnownFee:
    """A fee a bank or processor deducts: a fixed amount, or a percentage of the amount."""

    fixed: Decimal | None = None
    percent: Decimal | None = None

    def __str__(self) -> str:
        return f"{self.percent}%" if self.percent is not None else str(self.fixed)


def parse_fees(text: str) -> list[KnownFee]:
    """'0.20, 1.50, 1.4%' -> fees; raises ValueError naming the item that is not one."""
    fees: list[KnownFee] = []
    for raw in text.replace(";", ",").split(","):
        item = raw.strip()
        if not item:
            continue
        try:
            if item.endswith("%"):
                pct = Decimal(item[:-1].strip())
                if not 0 < pct < 100:
                    raise ValueError(f"{item}: a percentage fee is between 0% and 100%")
                fees.append(KnownFee(percent=pct))
            else:
                fixed = Decimal(item)
                if fixed <= 0 or -fixed.as_tuple().exponent > 5:  # type: ignore[operator]
                    raise ValueError(f"{item}: a fixed fee is a positive amount")
                fees.append(KnownFee(fixed=fixed))
        except InvalidOperation:
            raise ValueError(
                f"{item!r} is neither an amount (0.35) nor a percentage (1.4%)"
            ) from None
    return fees


class ReconciliationPolicy(BaseModel):
    date_window_days: Annotated[int, Field(ge=0, le=30)] = Field(
        3,
        description="Days a statement line's date may differ from our record's for the "
        "amount-and-date, fee and batch passes",
    )
    amount_tolerance_minor: Annotated[int, Field(ge=0, le=10_000)] = Field(
        0,
        description="Largest difference, in minor units (cents), still counted as the same "
        "amount; anything more is an amount mismatch",
    )
    known_fees: str = Field(
        "0.20, 0.35, 1.50, 1.4%",
        description="Fees a bank or processor may deduct, in the statement's currency: "
        "fixed amounts and percentages, separated by commas",
    )
    batch_max_records: Annotated[int, Field(ge=2, le=100_000)] = Field(
        5_000, description="Most of our records one statement line may settle as a batch"
    )
    record_window_days: Annotated[int, Field(ge=0, le=60)] = Field(
        5,
        description="Days after a statement's period within which our records of that "
        "period must appear on a statement before each becomes a break",
    )
    break_sla_hours: Annotated[int, Field(ge=1, le=720)] = Field(
        48, description="Hours finance has to resolve a break before it escalates"
    )
    write_off_approval_sla_hours: Annotated[int, Field(ge=1, le=720)] = Field(
        24, description="Hours a manager has to approve or reject a write-off before it escalates"
    )
    write_off_threshold_eur: Annotated[int, Field(ge=0, le=1_000_000)] = Field(
        100,
        description="Write-offs up to this many EUR are booked at once; above it an "
        "ops manager must approve the exact amount (four-eyes)",
    )

    @field_validator("known_fees")
    @classmethod
    def _fees(cls, value: str) -> str:
        return ", ".join(str(f) for f in parse_fees(value))

    def fees(self) -> list[KnownFee]:
        return parse_fees(self.known_fees)
