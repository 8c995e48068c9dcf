"""Structured logs: one line when a request arrives and one when it completes, request ids, and redacted secrets.

Every log record of the process, ours, Flask's, gunicorn's or a library's, leaves through one handler on the root
logger and is rendered by structlog: JSON lines, or human-readable lines on a developer's console. Values under
sensitive keys are replaced by ``[REDACTED]`` wherever they appear, nested too; inside any text, bearer tokens and the
values of sensitive ``name=value`` pairs are masked. So a password in a request body, a token in a header or a secret in
a query string quoted by gunicorn never reaches the log.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import structlog
from flask import current_app, g, has_request_context, request
from flask.logging import default_handler
from flask_jwt_extended import get_jwt
from werkzeug.exceptions import HTTPException

if TYPE_CHECKING:
    from flask import Flask, Response
    from structlog.typing import EventDict, Processor, WrappedLogger

#: What replaces a secret in the log.
REDACTED = "[REDACTED]"
#: Keys whose values never reach the log: a key containing one of these (any case) is redacted.
#: Compared without case, hyphens or underscores: ``api_key`` also catches ``apiKey``, ``api-key`` and ``APIKEY``.
DEFAULT_REDACT_KEYS = (
    "password", "passwd", "pwd", "secret", "token", "authorization", "api_key", "private_key", "credential",
    "signature", "cookie",
)  # fmt: skip
#: The header carrying the request id, in requests from a trusted proxy and in every response.
REQUEST_ID_HEADER = "X-Request-ID"

_EXTENSION_KEY = "flask_ligand.logging"
_G_REQUEST_ID = "_ligand_request_id"
_G_STARTED = "_ligand_request_started"
#: How the request's lines are logged (``None``: not at all) and what both say of the request, found once.
_G_LINE = "_ligand_request_line"
#: Headers redacted whatever ``LOG_REDACT_KEYS`` says: they carry credentials by definition.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})
#: Characters of a request header's value the request line keeps: 100 headers of 8 KB must not make a 800 KB line.
_HEADER_MAX_CHARS = 512
#: A bearer token or a JWT inside text (an exception message, a URL); long enough not to catch "bearer token". A
#: JWT's parts may carry base64 padding.
_SECRET_IN_TEXT = re.compile(r"(?i)\bbearer\s+[\w.~+/=-]{16,}|\beyJ[\w=-]*\.[\w=-]+\.[\w=-]*")
#: A value in text: quoted (``'x'``, ``b'x'``, ``"x"``, with backslash escapes), or a repr's dict (two levels of
#: nesting deep), list or tuple (one).
_VALUE_IN_TEXT = (
    r"[bru]{0,2}'(?:[^'\\]|\\.)*'|[bru]{0,2}\"(?:[^\"\\]|\\.)*\""
    r"|\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*\}|\[(?:[^\[\]]|\[[^\[\]]*\])*\]|\((?:[^()]|\([^()]*\))*\)"
)
#: A ``name=value`` pair in text, as in a query string (names percent-encoded too: ``user%5Bpassword%5D``), a form
#: body or a repr (``password='x'``); the name starts after no other name character. An unquoted value runs to the
#: next ``&`` or space, quotes included (``password=it's``).
_PAIR_IN_TEXT = re.compile(rf"(?<![\w.\[\]%-])([\w.\[\]%-]+)=({_VALUE_IN_TEXT}|[^&\s]+)")
#: A ``name: value`` or ``name = value`` in text, as in a header quoted in a message (``X-Api-Key: x``,
#: ``Authorization: Basic x``) or a settings dump; the value is one word, or a scheme and its credentials.
_SPACED_NAME_IN_TEXT = re.compile(r"(?<![\w.\[\]%-])([\w.\[\]%-]+)([ \t]*:[ \t]*|[ \t]+=[ \t]*|[ \t]*=[ \t]+)")
#: What follows a cookie header's name in text: all its pairs, to the end of the line.
_COOKIES_IN_TEXT = re.compile(r"[^\r\n]*")
#: Names of exceptions (``ExpiredSignatureError: Signature has expired``), which are not secrets' names.
_EXCEPTION_NAME = re.compile(r"\w*(?:Error|Exception|Warning)")
_SPACED_VALUE_IN_TEXT = re.compile(rf"(?i:(?:basic|bearer|digest|token)\s+)?(?:{_VALUE_IN_TEXT}|[^\s,;&'\"]+)")
#: The password of a URL's user information (``postgresql://user:password@db/name``).
_USERINFO_IN_TEXT = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^/\s:@?#]*:)[^@\s/?#]+@")
#: A quoted key and its value in text, as in a dict's repr or JSON quoted in a message (``{'password': 'x'}``).
_QUOTED_KEY_IN_TEXT = re.compile(rf"(['\"])([\w.\[\]%-]{{1,128}})\1(\s*:\s*)({_VALUE_IN_TEXT}|[^,}}\]\s]+)")
#: Keys of structlog's event dicts that are instructions to its processors, not text to render: an exception to
#: format (redacted once formatted, by ``_Redactor.exception``), the standard record a line came from.
_META_KEYS = frozenset({"exc_info", "stack_info", "_record", "_from_structlog"})
#: The quotes of a quoted value, with any string prefix (``b'...'``), around what is inside them.
_QUOTED = re.compile(r"([bru]{0,2}['\"])(.*)(['\"])", re.DOTALL)
#: A request id from a proxy is used only if it is short and made of ASCII characters safe in headers and logs.
_VALID_REQUEST_ID = re.compile(r"[\w.:@+=/-]{1,128}", re.ASCII)
_LOG = structlog.stdlib.get_logger("flask_ligand.request")
#: Marks a record whose message is a JSON line structlog's chain rendered and redacted.
_RENDERED = "_ligand_rendered"
#: The standard logger behind ``_LOG``, asked whether a level is enabled before a line's fields are built.
_STDLIB_LOG = logging.getLogger("flask_ligand.request")


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler writing to whatever ``sys.stderr`` is at each record, as ``logging.lastResort`` does.

    Test runners and servers replace ``sys.stderr``; a handler that kept the stream it was created with would write
    to a closed or stale one.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


@dataclass(frozen=True)
class _RequestLogging:
    body_max_bytes: int
    quiet_prefixes: tuple[str, ...]
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def init_app(app: Flask) -> None:
    """Render the process' logs as ``LOG_FORMAT`` and log every request of ``app``; add request ids to responses.

    Call it before other extensions register ``after_request`` functions, so the completion line sees the final
    response.
    """
    configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"], app.config["LOG_REDACT_KEYS"])
    app.logger.removeHandler(default_handler)  # records reach the root handler; Flask's own would print them twice
    app.extensions[_EXTENSION_KEY] = _RequestLogging(
        body_max_bytes=app.config["LOG_BODY_MAX_BYTES"],
        quiet_prefixes=tuple(app.config["LOG_QUIET_PATHS"]),
        trusted_proxies=tuple(
            ipaddress.ip_network(net, strict=False) for net in app.config["REQUEST_ID_TRUSTED_PROXIES"]
        ),
    )
    app.before_request(_request_started)
    app.after_request(_request_finished)
    app.teardown_request(_forget_request)


def configure_logging(
    log_format: str = "json", level: str | int = "INFO", redact_keys: Collection[str] = DEFAULT_REDACT_KEYS
) -> None:
    """Send every log record of the process through structlog to standard error, as JSON or console lines.

    Replaces the handler a previous call installed, and leaves other handlers of the root logger alone.

    Args:
        log_format: ``json`` (one object per line) or ``console`` (aligned, coloured when a terminal).
        level: The root logger's level.
        redact_keys: A value is redacted when its key contains one of these, in any case.
    """
    global _redactor, _json_lines
    _redactor = _Redactor(redact_keys)
    _json_lines = log_format == "json"
    structlog.configure(
        processors=[*_shared_processors(), _finish],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = StderrHandler()
    handler.setFormatter(build_formatter(log_format, redact_keys))
    root = logging.getLogger()
    for old in [old for old in root.handlers if isinstance(old, StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)


@contextmanager
def kept_logging_configuration() -> Iterator[None]:
    """Restore the root logger's handlers and level on exit, and enable again every logger that was not disabled.

    Alembic's ``env.py`` calls ``logging.config.fileConfig``, which replaces the root logger's handlers and, unless
    told otherwise (as in the one ``flask db init`` writes), disables every logger it does not name: ours, the
    service's, and those of libraries the migration imported. The service's logging must survive a
    ``DB_AUTO_UPGRADE`` at start-up.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    disabled = {logger for logger in _loggers() if logger.disabled}
    try:
        yield
    finally:
        for handler in [handler for handler in root.handlers if handler not in handlers]:
            root.removeHandler(handler)
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
        for logger in _loggers():
            logger.disabled = logger in disabled


def build_formatter(
    log_format: str = "json", redact_keys: Collection[str] = DEFAULT_REDACT_KEYS
) -> structlog.stdlib.ProcessorFormatter:
    """A ``logging.Formatter`` rendering records as :func:`configure_logging` does; for gunicorn's ``logconfig_dict``.

    Raises:
        ValueError: ``log_format`` is neither ``json`` nor ``console``.
    """
    renderer: Processor
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer(default=str)
    elif log_format == "console":
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    else:
        raise ValueError(f"Log format '{log_format}' is unknown: use 'json' or 'console'.")
    redactor = _Redactor(redact_keys)
    return _Formatter(
        # Records from structlog were redacted in its own chain (configure_logging); the others are redacted here.
        foreign_pre_chain=[*_shared_processors(), _gunicorn_access_fields, redactor],
        pass_foreign_args=True,  # for gunicorn's access atoms; dropped from every other record
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # A traceback is rendered to text for either format, so that the redaction sees what is printed.
            structlog.processors.format_exc_info,
            redactor.exception,
            renderer,
        ],
    )


class _Formatter(structlog.stdlib.ProcessorFormatter):
    """structlog's formatter, passing through the lines structlog's chain already rendered and redacted."""

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, _RENDERED, False):
            return str(record.msg)
        return super().format(record)


def current_request_id() -> str | None:
    """The id of the current request: its trusted ``X-Request-ID`` or a new one; ``None`` outside a request."""
    if not has_request_context():
        return None
    request_id: str | None = g.get(_G_REQUEST_ID)
    if request_id is None:
        request_id = _incoming_request_id() or uuid.uuid4().hex
        setattr(g, _G_REQUEST_ID, request_id)
    return request_id


def redact(value: Any, keys: Collection[str] = DEFAULT_REDACT_KEYS) -> Any:
    """Return ``value`` with its secrets replaced by ``[REDACTED]``.

    Secrets are the values under a key containing one of ``keys``, at any depth, and inside any text, bearer tokens
    and the values of ``name=value`` pairs whose name contains one of ``keys``.
    """
    return _Redactor(keys).value(value)


class _Redactor:
    #: Distinct keys remembered as secret or not; the cache is emptied when full, so odd payloads cannot grow it.
    _CACHE_SIZE = 4096

    def __init__(self, keys: Collection[str]) -> None:
        self.keys = tuple({_normalized(key) for key in keys})
        self._key_is_secret: dict[object, bool] = {}

    def __call__(self, _logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
        return {
            key: value if key in _META_KEYS else REDACTED if self._secret(key) else self.value(value)
            for key, value in event_dict.items()
        }

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {
                self.text(key) if isinstance(key, str) else key: REDACTED if self._secret(key) else self.value(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        # Anything else is rendered as its str() (JSONRenderer's default=str, the console's repr): an exception, a
        # settings object or bytes may quote a secret, so the text is what is redacted.
        return self.text(str(value))

    def render_json(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> tuple[tuple[str], dict[str, Any]]:
        """Render a structlog line as JSON, redacted; the last processor of the chain when ``LOG_FORMAT`` is json.

        Most lines hold no secret, and one scan of their text proves it: only the others are walked value by value.
        The line reaches the standard logger as its message, marked so that :class:`_Formatter` leaves it as it is.
        """
        line = json.dumps(event_dict, default=str)  # as structlog's JSONRenderer(default=str)
        if self._may_hold_secret(line):
            line = json.dumps(self(logger, name, event_dict), default=str)
        return (line,), {"extra": {_RENDERED: True}}

    def _may_hold_secret(self, text: str) -> bool:
        """Whether JSON ``text`` may hold a value to redact: a secret key name, a token, or an escape sequence.

        An escape sequence could spell a key or a token the scan cannot see, so text with one is walked.
        """
        lowered = text.lower()
        squeezed = _squeezed(_decoded(lowered))
        return (
            "\\" in text
            or any(key in squeezed for key in self.keys)
            or ("://" in text and "@" in text)
            or (("bearer" in lowered or "eyj" in lowered) and _SECRET_IN_TEXT.search(text) is not None)
        )

    def text(self, text: str, depth: int = 0) -> str:
        """Mask the tokens in ``text``, and the values of its ``name=value`` pairs and quoted ``'name': value`` items
        whose name holds a secret key.

        Most text names no key, and skips the scans for pairs. ``depth`` counts the quoted values entered (a URL in a
        repr): two levels are searched, so nested text cannot make the scans grow with its nesting.
        """
        if ("=" in text or ":" in text) and any(key in _normalized(_decoded(text)) for key in self.keys):
            text = _PAIR_IN_TEXT.sub(lambda match: self._redacted_pair(match, depth), text)
            text = _QUOTED_KEY_IN_TEXT.sub(lambda match: self._redacted_item(match, depth), text)
            text = self._redacted_spaced_pairs(text)
        if "://" in text and "@" in text:
            text = _USERINFO_IN_TEXT.sub(rf"\g<1>{REDACTED}@", text)
        return _SECRET_IN_TEXT.sub(REDACTED, text)

    def exception(self, _logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
        """Mask secrets in a rendered traceback, which only exists once the formatter has rendered it."""
        exception = event_dict.get("exception")
        if isinstance(exception, str):
            event_dict["exception"] = self.text(exception)
        return event_dict

    def _redacted_pair(self, match: re.Match[str], depth: int) -> str:
        name, value = match.groups()
        return f"{name}={REDACTED if self._secret(_decoded(name)) else self._inner(value, depth)}"

    def _redacted_item(self, match: re.Match[str], depth: int) -> str:
        quote, name, colon, value = match.groups()
        redacted = REDACTED if self._secret(_decoded(name)) else self._inner(value, depth)
        return f"{quote}{name}{quote}{colon}{redacted}"

    def _redacted_spaced_pairs(self, text: str) -> str:
        """Mask the value after each secret ``name:`` or ``name =`` (all of a cookie header's pairs); other names'
        values are left to be scanned, as they may be a secret's name (``RuntimeError: password: x``)."""
        parts: list[str] = []
        position = 0
        for name in _SPACED_NAME_IN_TEXT.finditer(text):
            key = name.group(1)
            if name.start() < position or _EXCEPTION_NAME.fullmatch(key) or not self._secret(_decoded(key)):
                continue
            cookies = "cookie" in key.lower()
            value = (_COOKIES_IN_TEXT if cookies else _SPACED_VALUE_IN_TEXT).match(text, name.end())
            if value is not None:
                parts += [text[position : name.end()], REDACTED]
                position = value.end()
        return "".join(parts) + text[position:] if parts else text

    def _inner(self, value: str, depth: int) -> str:
        """A value under a name that is no secret, with the secrets inside it redacted: a URL quoted in a repr
        (``url='https://api/?api_key=x'``) or JSON quoted in a dict (``{'body': '{"password": "x"}'}``)."""
        if depth >= 2:
            return value
        quoted = _QUOTED.fullmatch(value)
        if quoted is None:
            return self.text(value, depth + 1) if value[:1] in "{[(" else value
        opening, inside, closing = quoted.groups()
        return f"{opening}{self.text(inside, depth + 1)}{closing}"

    def _secret(self, key: object) -> bool:
        secret = self._key_is_secret.get(key)
        if secret is None:
            name = _normalized(str(key))
            secret = any(part in name for part in self.keys)
            if len(self._key_is_secret) >= self._CACHE_SIZE:
                self._key_is_secret.clear()
            self._key_is_secret[key] = secret
        return secret


def _decoded(text: str) -> str:
    """``text`` with its percent-escapes decoded, as a query string's names are read: ``pass%77ord`` is a password."""
    return unquote(text) if "%" in text else text


def _normalized(name: str) -> str:
    """A key name as secrets are looked for in it: lower-case, without hyphens or underscores."""
    return _squeezed(name.lower())


def _squeezed(lowered: str) -> str:
    return lowered.replace("-", "").replace("_", "")


#: The redactor of structlog's chain, as last configured.
_redactor = _Redactor(DEFAULT_REDACT_KEYS)
#: Whether structlog's chain renders JSON lines (``LOG_FORMAT=json``), as last configured.
_json_lines = True


def _finish(logger: WrappedLogger, name: str, event_dict: EventDict) -> Any:
    """The last processor of structlog's chain: redact, and render a JSON line or hand the fields to the formatter.

    Redacted before leaving structlog, so that other handlers (pytest's, an error tracker's) see no secret. JSON
    lines are rendered here, once, and the formatter passes them through (see ``_Formatter``); console lines are
    rendered by the formatter, as records from other loggers are. It reads the configuration at each call because
    structlog loggers keep the chain they were first used with.
    """
    if _json_lines:
        return _redactor.render_json(logger, name, structlog.processors.format_exc_info(logger, name, event_dict))
    return structlog.stdlib.ProcessorFormatter.wrap_for_formatter(logger, name, _redactor(logger, name, event_dict))


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _gunicorn_access_fields(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Give gunicorn's access lines the same fields as ours; its query string atom is left out on purpose."""
    atoms = event_dict.pop("positional_args", None)
    record = event_dict.get("_record")
    if record is None or record.name != "gunicorn.access" or not isinstance(atoms, Mapping):
        return event_dict
    event_dict.update(
        method=atoms.get("m"),
        path=atoms.get("U"),
        status=_int_or_none(atoms.get("s")),
        duration_ms=_int_or_none(atoms.get("M")),
        remote_addr=atoms.get("h"),
    )
    request_id = atoms.get("{x-request-id}o")
    if request_id and request_id != "-":
        event_dict["request_id"] = request_id
    return event_dict


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _state() -> _RequestLogging:
    state: _RequestLogging = current_app.extensions[_EXTENSION_KEY]
    return state


def _incoming_request_id() -> str | None:
    value = request.headers.get(REQUEST_ID_HEADER)
    if not value or not _VALID_REQUEST_ID.fullmatch(value):
        return None
    # Behind ProxyFix, REMOTE_ADDR is the client's; the proxy that sent the header is the original peer.
    original = request.environ.get("werkzeug.proxy_fix.orig") or {}
    peer = original.get("REMOTE_ADDR", request.remote_addr)
    try:
        address = ipaddress.ip_address(peer or "")
    except ValueError:
        return None
    return value if any(address in network for network in _state().trusted_proxies) else None


def _request_started() -> None:
    setattr(g, _G_STARTED, time.perf_counter())
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=current_request_id())
    log = _log_for_path()
    fields = _request_fields() if log is not None else {}
    setattr(g, _G_LINE, (log, fields))
    if log is None:
        return
    _safely(
        lambda: log(
            "request started",
            **fields,
            remote_addr=request.remote_addr,
            headers={name: _header_value(name, value) for name, value in request.headers},
            **_body(request.mimetype, request.is_json, request.content_length, request.get_data, _request_body_limit()),
        )
    )


def _request_finished(response: Response) -> Response:
    request_id = current_request_id()
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    started: float | None = g.get(_G_STARTED)
    duration_ms = round((time.perf_counter() - started) * 1000, 3) if started is not None else None
    line: tuple[Callable[..., Any] | None, dict[str, Any]] | None = g.get(_G_LINE)
    log, fields = line if line is not None else (_log_for_path(), None)
    if log is None:
        return response
    _safely(
        lambda: log(
            "request finished",
            **(fields or _request_fields()),
            status=response.status_code,
            duration_ms=duration_ms,
            user_id=_user_id(),
            **_body(
                response.mimetype,
                response.is_json,
                None if response.is_streamed else response.calculate_content_length(),
                response.get_data,
                _state().body_max_bytes,
            ),
        )
    )
    return response


def _header_value(name: str, value: str) -> str:
    """A request header's value as logged: redacted for credential headers, clipped when long (bodies are too)."""
    if name.lower() in _SECRET_HEADERS:
        return REDACTED
    if len(value) > _HEADER_MAX_CHARS:
        return f"{value[:_HEADER_MAX_CHARS]}... ({len(value)} characters)"
    return value


def _forget_request(_error: BaseException | None) -> None:
    structlog.contextvars.clear_contextvars()


def _safely(log: Callable[[], Any]) -> None:
    """Run one logging call; a failure in it is reported, without its data, and never fails the request."""
    try:
        log()
    except RecursionError:  # a body nested too deeply to walk: its traceback would be thousands of lines per request
        logging.getLogger(__name__).warning(
            "A request line was not logged: its body nests too deeply to be walked; the request itself went on."
        )
    except Exception:  # logging must never break a request; the failure itself is logged
        logging.getLogger(__name__).exception("A request could not be logged; the request itself went on.")


def _log_for_path() -> Callable[..., Any] | None:
    """How to log this request's lines; ``None`` when its level is filtered out, so that nothing is built for them."""
    quiet = request.path.startswith(_state().quiet_prefixes)
    if not _STDLIB_LOG.isEnabledFor(logging.DEBUG if quiet else logging.INFO):
        return None
    return _LOG.debug if quiet else _LOG.info


def _request_fields() -> dict[str, Any]:
    """What both request lines say of the request: method, path and query arguments."""
    query = {key: values[0] if len(values) == 1 else values for key, values in request.args.lists()}
    return {"method": request.method, "path": request.path, "query": query}


def _request_body_limit() -> int:
    # A body over MAX_CONTENT_LENGTH is left for the view to refuse: reading it here would raise the 413 in our hook.
    limit = _state().body_max_bytes
    max_content_length: int | None = current_app.config.get("MAX_CONTENT_LENGTH")
    return limit if max_content_length is None else min(limit, max_content_length)


def _body(
    mimetype: str | None, is_json: bool, length: int | None, get_data: Callable[[], bytes], limit: int
) -> dict[str, Any]:
    """The body as a ``body`` field when it is JSON and small, else a ``body_omitted`` field saying why not."""
    if not length:
        return {}
    if not is_json:
        return {"body_omitted": f"{length} bytes of {mimetype or 'unknown type'}, not JSON"}
    if length > limit:
        return {"body_omitted": f"{length} bytes, over the {limit} bytes logged"}
    try:
        return {"body": json.loads(get_data())}  # redacted with the rest of the line, in structlog's chain
    except HTTPException:  # a body that ends early or is malformed: the view gets the same 400 when it reads it
        return {"body_omitted": f"{length} bytes announced, not read whole"}
    except ValueError:
        return {"body_omitted": f"{length} bytes, not valid JSON"}
    except RecursionError:
        return {"body_omitted": f"{length} bytes, nested too deeply"}


def _user_id() -> str | None:
    try:
        subject = get_jwt().get("sub")
    except RuntimeError:  # no token was verified in this request
        return None
    return None if subject is None else str(subject)


def _loggers() -> list[logging.Logger]:
    """Every logger made so far; a copy, as another thread may make one while the caller walks them."""
    return [item for item in list(logging.root.manager.loggerDict.values()) if isinstance(item, logging.Logger)]
