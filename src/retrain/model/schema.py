"""The feature schema: what the training window's columns looked like, stored with the model version.

A schema records, per feature column in the model's order, its kind (`int`, `float`, `string`,
`bool`), whether missing values were seen, and for `string` / `bool` columns the categories seen.
It is built from the training window (`FeatureSchema.from_frame`), chooses the preprocessing
(`retrain.model.preprocess`), travels with the version as JSON (`to_dict` / `from_dict`, an MLflow
artifact) and checks data to score (`FeatureSchema.check`): a missing column or a value of the wrong
kind is refused naming the column and the first bad row, while a category never seen in training is
accepted (the model's encoder handles it) and only counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["int", "float", "string", "bool"]
KINDS: tuple[str, ...] = ("int", "float", "string", "bool")
MAX_CATEGORIES_KEPT = 1000
"""More distinct values than this are not listed in the schema (the encoder still learns them all)."""

_BOOL_WORDS = {"true": True, "false": False}


class SchemaError(ValueError):
    """Data does not match the feature schema; the message names the column, the first bad row and the fix."""

    def __init__(self, message: str, *, column: str | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.column = column
        self.row = row


@dataclass(frozen=True)
class ColumnSchema:
    """One feature column.

    Attributes:
        name: The column's name in the input files.
        kind: `int`, `float`, `string` or `bool`.
        nullable: Whether the training window held a missing value in it.
        categories: For `string` / `bool` columns, the sorted distinct values seen (as strings), or
            None when there were more than `MAX_CATEGORIES_KEPT`; None for numeric columns.
    """

    name: str
    kind: Kind
    nullable: bool = False
    categories: tuple[str, ...] | None = None

    @property
    def categorical(self) -> bool:
        """Whether the preprocessing encodes this column as categories (strings and booleans)."""
        return self.kind in ("string", "bool")


def _kind_of(series: Any) -> Kind:
    """The kind of a pandas column: its dtype, or for object columns, what its non-missing values are."""
    from pandas.api import types

    if types.is_bool_dtype(series.dtype):
        return "bool"
    if types.is_integer_dtype(series.dtype):
        return "int"
    if types.is_float_dtype(series.dtype):
        return "float"
    values = series.dropna()
    if len(values) and all(isinstance(v, bool) or str(v).lower() in _BOOL_WORDS for v in values):
        return "bool"  # object column of True/False (pandas turns a bool column with a gap into object)
    return "string"


@dataclass(frozen=True)
class FeatureSchema:
    """The feature columns of a training window, in the model's order (see the module docstring)."""

    columns: tuple[ColumnSchema, ...] = field(default_factory=tuple)

    @classmethod
    def from_frame(cls, frame: Any) -> FeatureSchema:
        """The schema of a pandas DataFrame of features (every column is a feature)."""
        columns = []
        for name in frame.columns:
            series = frame[name]
            kind = _kind_of(series)
            categories = None
            if kind in ("string", "bool"):
                seen = sorted({str(v) for v in series.dropna().unique()})
                categories = tuple(seen) if len(seen) <= MAX_CATEGORIES_KEPT else None
            columns.append(ColumnSchema(str(name), kind, bool(series.isna().any()), categories))
        return cls(tuple(columns))

    @property
    def names(self) -> list[str]:
        """Column names in the model's order."""
        return [c.name for c in self.columns]

    @property
    def categorical(self) -> list[str]:
        """Names of the `string` and `bool` columns."""
        return [c.name for c in self.columns if c.categorical]

    @property
    def numeric(self) -> list[str]:
        """Names of the `int` and `float` columns."""
        return [c.name for c in self.columns if not c.categorical]

    @property
    def all_numeric_complete(self) -> bool:
        """True when every column is numeric and none had a missing value (the case that needs no preprocessing)."""
        return all(not c.categorical and not c.nullable for c in self.columns)

    def column(self, name: str) -> ColumnSchema:
        """The column named `name`; KeyError when the schema has none."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, stored with the version (`schema.json`)."""
        return {
            "columns": [
                {
                    "name": c.name,
                    "kind": c.kind,
                    "nullable": c.nullable,
                    "categories": None if c.categories is None else list(c.categories),
                }
                for c in self.columns
            ]
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSchema:
        """The inverse of `to_dict`.

        Raises:
            SchemaError: When a column has an unknown kind (a schema written by something else).
        """
        columns = []
        for item in data.get("columns") or []:
            kind = item.get("kind")
            if kind not in KINDS:
                raise SchemaError(f"feature schema: column {item.get('name')!r} has unknown kind {kind!r}")
            categories = item.get("categories")
            columns.append(
                ColumnSchema(
                    str(item["name"]),
                    kind,
                    bool(item.get("nullable", False)),
                    None if categories is None else tuple(str(v) for v in categories),
                )
            )
        return cls(tuple(columns))

    def mlflow_schema(self) -> Any:
        """The MLflow input schema with the real column types (long, double, string, boolean).

        Columns that may be missing are declared `required=False`, integers with missing values as
        double (pandas holds them as float64), and booleans with missing values as `any`: MLflow
        casts a `boolean` column to NumPy's bool, which has no missing value, so the nullable
        `boolean` column `pd.read_parquet` gives would be refused ("cannot convert float NaN to
        bool") while the model itself takes it.
        """
        from mlflow.types import ColSpec, DataType, Schema
        from mlflow.types.schema import AnyType

        types = {"int": DataType.long, "float": DataType.double, "string": DataType.string, "bool": DataType.boolean}
        specs = []
        for c in self.columns:
            kind: Any = types[c.kind]
            if c.kind == "int" and c.nullable:
                kind = DataType.double
            elif c.kind == "bool" and c.nullable:
                kind = AnyType()
            specs.append(ColSpec(kind, c.name, required=not c.nullable))
        return Schema(specs)

    def check(self, frame: Any, *, source: str = "the input") -> dict[str, list[str]]:
        """Check a DataFrame to score against the schema; the categories not seen in training, by column.

        Extra columns are allowed (selected away by name). Unseen categories are not an error: the
        model's encoder maps them to "unknown" (HistGradientBoosting treats them as missing, one-hot
        encoding as all zeros).

        Raises:
            SchemaError: When a column is absent, or a numeric column holds a value that is not a
                number (naming the column and the first bad row, 0-based).
        """
        import pandas as pd

        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise SchemaError(
                f"{source}: missing feature column(s) {missing} the model was trained on; "
                f"the columns are {list(frame.columns)[:20]}",
                column=missing[0],
            )
        unseen: dict[str, list[str]] = {}
        for c in self.columns:
            series = frame[c.name]
            if not c.categorical:
                numbers = pd.to_numeric(series, errors="coerce")
                bad = numbers.isna() & series.notna()
                if bad.any():
                    row = int(bad.to_numpy().nonzero()[0][0])
                    raise SchemaError(
                        f"{source}: column {c.name!r} row {row}: {series.iloc[row]!r} is not a number "
                        f"(the model was trained on {c.kind} values); fix or blank that cell",
                        column=c.name,
                        row=row,
                    )
            elif c.categories is not None:
                known = set(c.categories)
                new = sorted({str(v) for v in series.dropna().unique()} - known)
                if new:
                    unseen[c.name] = new[:20]
        return unseen


def signature_for(model: Any, example: Any) -> Any:
    """The MLflow signature of a model fitted by `retrain.model.train.fit`: real input types, label output.

    Returns:
        A `ModelSignature` whose inputs are `FeatureSchema.mlflow_schema()` (long, double, string,
        boolean) and whose output is the type of the model's labels; None when the model carries no
        feature schema (MLflow then infers one from the input example).
    """
    data = getattr(model, "feature_schema_", None)
    if not isinstance(data, dict):
        return None
    from mlflow.models import ModelSignature, infer_signature

    outputs = infer_signature(example, model.predict(example)).outputs
    return ModelSignature(inputs=FeatureSchema.from_dict(data).mlflow_schema(), outputs=outputs)
