"""The request class of every flask-ligand app: a body is read whole, as sent, or refused with a clear 4xx/5xx.

- A body with a ``Content-Length`` over ``MAX_CONTENT_LENGTH`` is refused before it is read (413). One sent in
  chunks has no length to check, and werkzeug stops reading it at the limit without an error, so the first MiB would
  pass for the whole body (``get_data``, ``get_json`` and webargs' JSON); here reading it whole raises the same 413
  when more follows.
- A body that ends before its ``Content-Length`` is a 400. werkzeug trusts a server that says it ends the input
  itself (``wsgi.input_terminated``, as gunicorn does), and gunicorn ends it at the connection's end without an
  error: a client that sent half its JSON and closed had the half read, and stored when it parsed.
- A body whose framing the server cannot read (a malformed chunk size, a chunk without its line end) is a 400; the
  server's own exception (gunicorn's ``InvalidChunkSize``) was a 500.
- A body sent with a transfer coding other than ``chunked`` (``gzip, chunked``) is a 501 (RFC 9112): gunicorn passes
  it on undecoded, where it was read as malformed JSON.
"""

from __future__ import annotations

import sys
from http import HTTPStatus
from typing import IO

import flask
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream

from flask_ligand.errors import abort, quoted


class _ServerInput:
    """The server's input stream, whose errors reading a malformed body are the ``ValueError`` werkzeug expects."""

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source

    def read(self, size: int = -1) -> bytes:
        try:
            return self._source.read(size)
        except (OSError, ValueError):
            raise
        except Exception as error:  # gunicorn's InvalidChunkSize, ChunkMissingTerminator and other ParseExceptions
            raise ValueError(type(error).__name__) from error


class _Body(LimitedStream):
    """werkzeug's stream of a body, with a clear error when it ends early or cannot be read, and, for a body of
    unknown length (a maximum), a 413 from ``readall`` when the body goes on past it."""

    def __init__(self, source: IO[bytes], limit: int, is_max: bool = False) -> None:
        super().__init__(_ServerInput(source), limit, is_max=is_max)  # type: ignore[arg-type]

    def on_disconnect(self, error: Exception | None = None) -> None:
        if error is not None:
            raise BadRequest(
                "The request body could not be read: its chunked framing is malformed, or the connection broke off. "
                "Send it again."
            ) from error
        if not self._limit_is_max:
            raise BadRequest(
                f"The request body ended after {self._pos} of the {self.limit} bytes its Content-Length announced. "
                "Send it whole."
            )

    def readall(self) -> bytes:
        data = super().readall()
        if self._limit_is_max and self.is_exhausted:
            more = b""
            try:
                more = self._stream.read(1)
            except (OSError, ValueError) as error:
                self.on_disconnect(error)
            if more:
                self.on_exhausted()  # a maximum's: RequestEntityTooLarge
        return data


class Request(flask.Request):
    """Flask's request, whose body stream holds the body to what was announced and allowed (see the module)."""

    @cached_property
    def stream(self) -> IO[bytes]:
        environ = self.environ
        codings = [coding.strip().lower() for coding in environ.get("HTTP_TRANSFER_ENCODING", "").split(",")]
        if any(coding not in ("chunked", "") for coding in codings):
            abort(  # a 5xx: its message must be given as the message, not as a description
                HTTPStatus.NOT_IMPLEMENTED,
                f"Transfer-Encoding {quoted(environ['HTTP_TRANSFER_ENCODING'])} is not supported here: send the body "
                "without a transfer coding, or only 'chunked'.",
            )
        length, limit = self.content_length, self.max_content_length
        if length is not None:
            if limit is not None and length > limit:
                raise RequestEntityTooLarge()
            return _Body(environ["wsgi.input"], length)  # type: ignore[return-value]
        if "wsgi.input_terminated" in environ:  # a body in chunks, ended by the server
            return _Body(environ["wsgi.input"], sys.maxsize if limit is None else limit, is_max=True)  # type: ignore[return-value]
        stream: IO[bytes] = super().stream  # no length and not ended by the server: werkzeug reads no body
        return stream
