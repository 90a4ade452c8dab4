"""How `aegis data import` judges a user's file: its settings, apart from the import itself so that reading
the settings does not import pandas (about 130 MB of a process's memory, with pyarrow)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from quant.data_quality import DEFAULT_OUTLIER_THRESHOLD


class DataImportConfig(BaseModel):
    """How `aegis data import` judges a user's file (`Settings.data_import`)."""

    model_config = ConfigDict(extra="forbid")

    max_gap_days: int = Field(
        10,
        ge=1,
        description="Calendar days two bars of one ticker may be apart before the file is refused as irregular "
        "(not daily). 10: longer than any US market closure (2001-09-11: 6 days) with a weekend either side",
    )
    outlier_threshold: float = Field(
        DEFAULT_OUTLIER_THRESHOLD,
        gt=0,
        description="A daily log return this many robust sigmas from its median is flagged (kept) as an outlier",
    )
    report_rows: int = Field(10, ge=0, description="Rows concerned shown per kind of issue in the import report")
    progress_from_bytes: int = Field(
        5_000_000, ge=0, description="Sources at least this large (in total) show a progress bar while importing"
    )
