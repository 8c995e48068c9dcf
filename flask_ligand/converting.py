"""How ``AutoSchema`` turns sqlalchemy-utils' column types into marshmallow fields.

marshmallow-sqlalchemy knows none of them, so it falls back to the type they store their values as: a JSON column
became a string (a dict went out as ``"{'a': 1}"``), a list of scalars too, an email address or URL was not checked,
a choice went out as its label but came in as its code, a country as its English name, and a value the type could
not convert (``Europe/Nowhere``) was a 500 when the view assigned it. Here each type gets the field that reads and
writes what clients expect, validated into a 422, and documented in OpenAPI (``format: email``, ``enum``...).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
import sqlalchemy_utils as su


class CoercedString(ma.fields.String):
    """A value a sqlalchemy-utils type converts from text (a country, currency, locale or time zone code).

    A client sends the code; one the type cannot convert is a 422 naming the field, rather than a 500 when the view
    assigns it. A response has the code too (``FI``, not the country's English name ``Finland``).
    """

    default_error_messages = {"invalid_value": "Not a valid {kind}: {value}."}

    def __init__(self, column_type: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.column_type = column_type

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        for name in ("code", "key", "zone"):  # Country, Currency; zoneinfo's and pytz's time zones
            if isinstance(getattr(value, name, None), str):
                return str(getattr(value, name))
        filename = getattr(value, "_filename", None)  # dateutil's time zone: never show the server's path
        if isinstance(filename, str):
            return filename.rpartition("zoneinfo/")[2]
        return str(value)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if self.column_type is not None:
            try:
                self.column_type._coerce(text)
            except Exception:  # each type fails its own way: ValueError, KeyError, babel's UnknownLocaleError...
                kind = type(self.column_type).__name__.removesuffix("Type").lower()
                raise self.make_error("invalid_value", kind=kind, value=text) from None
        return text


class _ChoiceCode(CoercedString):
    """A ``ChoiceType`` column of ``(code, label)`` pairs: the code, one of the choices (an ``enum`` in OpenAPI)."""

    def __init__(self, column_type: Any = None, **kwargs: Any) -> None:
        super().__init__(column_type, **kwargs)
        self.validators.insert(0, ma.validate.OneOf([str(code) for code, _label in column_type.choices]))


class _ChoiceIntegerCode(ma.fields.Integer):
    """A ``ChoiceType`` column whose codes are integers."""

    def __init__(self, column_type: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.insert(0, ma.validate.OneOf([code for code, _label in column_type.choices]))

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return super()._serialize(getattr(value, "code", value), attr, obj, **kwargs)


class _ChoiceEnum(ma.fields.Enum):  # type: ignore[type-arg]
    """A ``ChoiceType`` column of an ``enum.Enum``: the member's value, as the column stores it."""

    def __init__(self, enum: type[enum.Enum], **kwargs: Any) -> None:
        super().__init__(enum, by_value=True, **kwargs)
        self.validators = _without_length(self.validators)  # the column's length is for the value it stores


class _Email(ma.fields.Email):
    """An ``EmailType`` column: an email address, lowercased as the column stores it, so that the response to a write
    shows what a later read will."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        return super()._deserialize(value, attr, data, **kwargs).lower()


class _Url(ma.fields.Url):
    """A ``URLType`` column: an absolute URL, whose host may be a single name (``http://inventory/``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(require_tld=False, **kwargs)


class _IP(ma.fields.IP):
    """An ``IPAddressType`` column: an IPv4 or IPv6 address, loaded as an ``ipaddress`` object."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators = _without_length(self.validators)  # the column's length is for the text it stores


class _Password(ma.fields.String):
    """A ``PasswordType`` column: written by clients, never shown (its value is the hash)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["load_only"] = True
        super().__init__(**kwargs)
        # The column's length is the hash's, which says nothing of how long a password may be.
        self.validators = _without_length(self.validators)


def _without_length(validators: list[Any]) -> list[Any]:
    return [rule for rule in validators if not isinstance(rule, ma.validate.Length)]


def _coerced(_converter: Any, column_type: Any) -> Any:
    return functools.partial(CoercedString, column_type)


def _choice(_converter: Any, column_type: Any) -> Any:
    if isinstance(column_type.choices, type) and issubclass(column_type.choices, enum.Enum):
        return functools.partial(_ChoiceEnum, column_type.choices)
    codes = [code for code, _label in column_type.choices]
    if codes and all(isinstance(code, int) for code in codes):
        return functools.partial(_ChoiceIntegerCode, column_type)
    return functools.partial(_ChoiceCode, column_type)


def _scalar_list(_converter: Any, column_type: Any) -> Any:
    separator = column_type.separator

    def without_separator(item: str) -> None:
        if separator in item:
            raise ma.ValidationError(f"An item cannot contain '{separator}'.")

    items: ma.fields.Field[Any]
    if column_type.coerce_func is int:
        items = ma.fields.Integer()
    elif column_type.coerce_func is float:
        items = ma.fields.Float()
    else:
        items = ma.fields.String(validate=without_separator)
    return functools.partial(ma.fields.List[Any], items)


def _encrypted(converter: Any, column_type: Any) -> Any:
    # The field of the type the value is before encryption (an Integer for StringEncryptedType(Integer, key)).
    return converter._get_field_class_for_data_type(column_type.underlying_type)


#: sqlalchemy-utils' column types and their fields: a field class, or a factory ``(converter, column type) -> field
#: class``, as marshmallow-sqlalchemy's ``SQLA_TYPE_MAPPING`` takes them. Types left out (ArrowType, ColorType,
#: PhoneNumberType, WeekDaysType, the range types...) keep the field of the type they store as: declare a field.
SQLALCHEMY_UTILS_FIELDS: dict[type, Any] = {
    su.EmailType: _Email,
    su.URLType: _Url,
    su.IPAddressType: _IP,
    su.JSONType: ma.fields.Raw,
    su.ScalarListType: _scalar_list,
    su.ChoiceType: _choice,
    su.CountryType: _coerced,
    su.CurrencyType: _coerced,
    su.LocaleType: _coerced,
    su.TimezoneType: _coerced,
    su.PasswordType: _Password,
    su.LtreeType: ma.fields.String,
    su.StringEncryptedType: _encrypted,
}
