"""The HTTP API (FastAPI): `GET /v1/models`, `POST /v1/chat/completions` and `POST /v1/completions`
(a raw prompt, no chat template) (streamed as server-sent
events ending in `data: [DONE]`, or whole), over one session served by a `ModelThread`.

FastAPI/Starlette rather than a hand-written HTTP stack: validation of the request shapes into
4xx answers, an OpenAPI schema at /openapi.json, and server-sent events through StreamingResponse.
Every error is OpenAI-shaped: {"error": {"message", "type", "param", "code"}}. Nothing here reads
or writes files; CORS is not enabled (no cross-origin headers are sent).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.backend import BackendError, ReplyDone
from app.failures import FailureKind
from app.server import translate
from app.server.formats import ChatFormat, TextFormat
from app.server.model_thread import DONE, ModelThread, QueueFull, ServerClosing
from app.server.request_log import RequestLog, ServedRequest
from app.server.schemas import ChatCompletionRequest, CompletionRequest
from app.server.served_model import ServedModel
from engine.events import TokenEvent

log = logging.getLogger(__name__)

RETRY_AFTER_S = 1  # what a refused client is told to wait (Retry-After) when the queue is full
MAX_BODY_BYTES = 4 << 20  # a request body larger than this is refused (413) before it is parsed


def _error(e: translate.APIError) -> JSONResponse:
    return JSONResponse(e.body(), status_code=e.status, headers=e.headers)


_UNION_TAGS = {"str", "int", "float", "bool", "none"}


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    first = exc.errors()[0] if exc.errors() else {}
    # a union's branch shows in the location by its type ('prompt.str', 'prompt.list[str].0'): not a field
    loc = [str(p) for p in first.get("loc", ()) if p != "body" and str(p) not in _UNION_TAGS and "[" not in str(p)]
    param = ".".join(loc) or None
    if first.get("type") == "json_invalid":
        return "the request body is not valid JSON", None
    return f"{param or 'body'}: {first.get('msg', 'invalid value')}", param


class Guard:
    """ASGI middleware in front of every request: the API key (when one is set: `Authorization:
    Bearer <key>`, else 401), then the body, read up to `limit` bytes (413 past it) and replayed.

    Plain ASGI rather than Starlette's BaseHTTPMiddleware, which would hide the client's
    disconnect from the endpoint."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES, api_key: str | None = None):
        self.app, self.limit, self.api_key = app, limit, api_key

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.api_key is not None:
            given = dict(scope.get("headers", ())).get(b"authorization", b"")
            if not hmac.compare_digest(given, f"Bearer {self.api_key}".encode()):
                error = translate.APIError(401, "a valid API key is needed (Authorization: Bearer …)", None,
                                           "invalid_api_key")
                return await _error(error)(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                error = translate.APIError(413, f"the request body is over {self.limit:,} bytes", None,
                                           "request_too_large")
                return await _error(error)(scope, receive, send)
        body, sent = b"".join(chunks), False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def create_app(served: ServedModel, model_thread: ModelThread, api_key: str | None = None,
               body_limit: int = MAX_BODY_BYTES, requests: RequestLog | None = None) -> FastAPI:
    """The API over `served`, its requests run by `model_thread`; every request needs
    `Authorization: Bearer <api_key>` when a key is given. `requests` (a new one when None) hears of
    every request that reaches the model thread."""
    requests = requests if requests is not None else RequestLog()
    api = FastAPI(title="Glassbox", version="0.1.0", docs_url=None, redoc_url=None)

    api.add_middleware(Guard, limit=body_limit, api_key=api_key)

    @api.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError):
        message, param = _validation_message(exc)
        return _error(translate.APIError(400, message, param))

    @api.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return _error(translate.APIError(exc.status_code, str(exc.detail), None, code))

    @api.exception_handler(translate.APIError)
    async def api_error(_request: Request, exc: translate.APIError):
        return _error(exc)

    @api.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception):
        log.exception("unexpected error in the API", exc_info=exc)
        return _error(translate.APIError(500, "an unexpected error in Glassbox (see its log)", None, None,
                                         "server_error"))

    @api.get("/v1/models")
    async def models():
        return {"object": "list", "data": [
            {"id": served.name, "object": "model", "created": 0, "owned_by": "glassbox"}]}

    async def answer(call: translate.ChatCall, make_format, record: ServedRequest, http: Request):
        """Run `call` on the model thread and answer it whole or as a stream, in `make_format`'s shapes."""
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[Any] = asyncio.Queue()

        def work(should_stop: Callable[[], bool]):
            session = served.session
            tokens = served.prompt_tokens(call.messages) if call.raw_prompt is None \
                else served.raw_prompt_tokens(call.raw_prompt)
            request = translate.fit_context(call, tokens, served.context_length)
            record.generate = request  # what the Inspector reassembles the prompt from, as it ran
            yield from session.stream(request, should_stop, lambda _done, _total: None)
            session.housekeeping()  # after the ReplyDone: the client has its answer already

        try:
            job = model_thread.submit(work, lambda item: loop.call_soon_threadsafe(items.put_nowait, item))
        except QueueFull as e:
            raise _as_api_error(e) from e
        requests.start(record)
        ended = {"stats": None, "reason": None, "error": None}

        async def next_item():
            item = await items.get()
            if isinstance(item, Exception):
                error = _as_api_error(item)
                ended["error"] = error.message
                raise error
            if isinstance(item, TokenEvent):
                if item.token is not None:
                    record.events.append(item)
                ended["reason"] = translate.finish_reason(item.finish_reason) or ended["reason"]
            elif isinstance(item, ReplyDone):
                ended["stats"] = item.stats
            return item

        def close() -> None:
            job.stop.set()  # the client left (or the reply ended): the engine stops before its next token
            reason = ended["reason"] if ended["stats"] is not None else None
            error = ended["error"] or (None if ended["stats"] is not None else "the client left before the end")
            requests.end(record, ended["stats"], reason, error)

        try:
            first = await next_item()  # an error before the first token is still an HTTP error
            # made once the session has answered (the window's may have no model until then)
            fmt = make_format(call, translate.completion_id(make_format.id_prefix), translate.now(), served.name,
                              served.token_bytes, served.token_decoder())
        except BaseException:
            close()
            raise

        if not call.stream:
            watcher = asyncio.create_task(_stop_when_gone(http, job.stop))
            try:
                text, item = [], first
                while not isinstance(item, ReplyDone):
                    if item is DONE:
                        raise translate.APIError(500, "the reply ended without its numbers", type="server_error")
                    if isinstance(item, TokenEvent) and item.token is not None:
                        text.append(item.text)
                        fmt.token(item)
                    item = await next_item()
            finally:
                close()
                watcher.cancel()
            return fmt.whole("".join(text), ended["reason"], item.stats)

        async def events() -> AsyncIterator[str]:
            def sse(payload: dict) -> str:
                return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

            try:
                for opening in fmt.opening():
                    yield sse(opening)
                item = first
                while not isinstance(item, ReplyDone) and item is not DONE:
                    if isinstance(item, TokenEvent):
                        if item.token is not None and (chunk := fmt.token(item)) is not None:
                            yield sse(chunk)
                        if item.finish_reason is not None:
                            yield sse(fmt.finish(translate.finish_reason(item.finish_reason)))
                    item = await next_item()
                if isinstance(item, ReplyDone) and call.include_usage:
                    yield sse(fmt.usage(item.stats))
                yield "data: [DONE]\n\n"
            except translate.APIError as e:  # the status is sent already: the error goes in the stream
                yield sse(e.body())
            finally:
                close()

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @api.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, http: Request):
        call = translate.chat_call(body, served.cache)
        record = ServedRequest("chat", body.model, messages=call.messages)
        return await answer(call, ChatFormat, record, http)

    @api.post("/v1/completions")
    async def completions(body: CompletionRequest, http: Request):
        """A plain completion: the prompt is the model's whole input, with no chat template."""
        call = translate.completion_call(body, served.cache)
        record = ServedRequest("completions", body.model, prompt=call.raw_prompt)
        return await answer(call, TextFormat, record, http)

    return api


async def _stop_when_gone(http: Request, stop, every_s: float = 0.05) -> None:
    """Set `stop` when the client of a whole (unstreamed) answer disconnects while it waits.

    (A stream notices by itself: sending its next chunk fails.)"""
    while not stop.is_set():
        if await http.is_disconnected():
            stop.set()
            return
        await asyncio.sleep(every_s)


def _as_api_error(e: Exception) -> translate.APIError:
    if isinstance(e, translate.APIError):
        return e
    if isinstance(e, ServerClosing):  # not this client's doing, and retrying here will not help
        return translate.APIError(503, str(e), None, "server_shutting_down", "server_error")
    if isinstance(e, QueueFull):  # too many at once: the client should come back a little later
        return translate.APIError(429, str(e), None, "server_busy", "rate_limit_error",
                                  headers={"Retry-After": str(RETRY_AFTER_S)})
    if isinstance(e, BackendError):
        if e.kind is FailureKind.CONTEXT_TOO_LONG:
            return translate.APIError(400, str(e), None, "context_length_exceeded")
        if e.kind is FailureKind.NO_MODEL:  # the window is still loading one: worth retrying
            return translate.APIError(503, str(e), None, "model_not_loaded", "server_error",
                                      headers={"Retry-After": str(RETRY_AFTER_S)})
        if e.kind in (FailureKind.OUT_OF_MEMORY, FailureKind.DEVICE):
            # the device could not do the work (its freed memory is given back): not the request's
            # fault, and not a crash; the server goes on, and a retry (or a smaller request) may pass
            return translate.APIError(503, str(e), None, e.kind.value, "server_error",
                                      headers={"Retry-After": str(RETRY_AFTER_S)})
        return translate.APIError(500, str(e), None, None, "server_error")
    if isinstance(e, ValueError):  # the engine refusing a value (a tokenizer's check of the text)
        return translate.APIError(400, str(e))
    log.error("unexpected error on the model thread", exc_info=e)
    return translate.APIError(500, "an unexpected error in Glassbox (see its log)", None, None, "server_error")
