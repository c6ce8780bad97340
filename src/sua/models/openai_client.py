"""A small client for OpenAI-compatible HTTP servers (vLLM, llama.cpp server, Ollama, hosted APIs).

Standard library only. Every request is a JSON ``POST`` to ``base_url + path``:

- **cache**: with ``cache_dir``, each successful response is stored under
  ``sha256(json({"url", "body"}, sort_keys=True))`` (the full request, without the API key) and
  later identical requests are answered from disk, so a rerun costs no request at all;
- **retries**: HTTP 429, 5xx, timeouts and dropped connections are retried up to
  ``max_retries`` times, waiting ``min(max_backoff, backoff · 2^attempt)`` seconds (at least a
  numeric ``Retry-After`` the server sends); other 4xx answers fail at once with the server's
  message;
- **redirects**: never followed. A 3xx answer is an error naming the target, so the API key
  is never sent to another host and nothing but the configured server's own answer is cached;
- **concurrency**: at most ``max_concurrency`` requests are in flight at once, across threads;
  :meth:`OpenAIClient.post_many` sends a list of requests on that many threads, results in order.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any

from sua.errors import SUAInputError, SUAServiceError
from sua.outputs import write_text_atomic

Json = dict[str, Any]


class OpenAIRequestError(SUAServiceError):
    """A request the server refused or that kept failing; ``status`` is the last HTTP status (or None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Retryable(Exception):
    def __init__(self, message: str, status: int | None, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class OpenAIServer:
    """An OpenAI-compatible server and how requests to it are sent (module doc).

    ``base_url``: its address, ``http(s)://host:port/v1``. ``api_key``: default
    ``$OPENAI_API_KEY`` (local servers need none). ``cache_dir``: where answers are cached
    (``None``: no cache). ``max_concurrency``: requests in flight at once, >= 1.
    ``max_retries`` (>= 0), ``backoff`` and ``max_backoff``: a failed attempt is retried after
    ``min(max_backoff, backoff · 2^attempt)`` seconds. ``timeout``: seconds one attempt waits.

    >>> OpenAIServer("127.0.0.1:8000/v1")
    Traceback (most recent call last):
    ...
    sua.errors.SUAInputError: base_url must start with http:// or https://, got '127.0.0.1:8000/v1'
    """

    base_url: str
    api_key: str | None = None
    cache_dir: str | os.PathLike[str] | None = None
    max_concurrency: int = 4
    max_retries: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    timeout: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.base_url, str) or not self.base_url.startswith(("http://", "https://")):
            raise SUAInputError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if not isinstance(self.max_concurrency, int) or self.max_concurrency < 1:
            raise SUAInputError(f"max_concurrency must be an integer >= 1, got {self.max_concurrency!r}")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise SUAInputError(f"max_retries must be an integer >= 0, got {self.max_retries!r}")


class OpenAIClient:
    """JSON requests for ``model`` to an OpenAI-compatible ``server``, cached, retried and
    rate-limited (module doc).

    ``model`` is put into every request body that names none. ``sleep`` waits between retries
    (a test passes a recorder). ``stats`` counts ``requests`` (HTTP attempts), ``cache_hits`` and
    ``retries``.

    >>> # server = OpenAIServer("http://127.0.0.1:8000/v1", cache_dir="runs/http-cache")
    >>> # OpenAIClient(server, "smollm2").post("/completions", {"prompt": "Paris is", "max_tokens": 4})
    """

    def __init__(self, server: OpenAIServer, model: str, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.server = server
        self.base_url = server.base_url.rstrip("/")
        self.model = model
        self.api_key = server.api_key if server.api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.cache_dir = Path(server.cache_dir).expanduser() if server.cache_dir is not None else None
        self.sleep = sleep
        self.stats = {"requests": 0, "cache_hits": 0, "retries": 0}
        self._slots = threading.BoundedSemaphore(server.max_concurrency)
        self._lock = threading.Lock()
        self._opener = urllib.request.build_opener(_RefuseRedirects)

    def __repr__(self) -> str:
        return f"OpenAIClient({self.base_url!r}, model={self.model!r})"

    def post(self, path: str, body: Json) -> Json:
        """The server's JSON answer to ``body`` at ``path`` (from the cache when it holds it)."""
        url = self.base_url + "/" + path.lstrip("/")
        body = {"model": self.model, **body}
        cached = self._cache_file(url, body)
        if cached is not None and cached.is_file():
            self._count("cache_hits")
            return json.loads(cached.read_text(encoding="utf-8"))
        answer = self._send_with_retries(url, body)
        if cached is not None:
            write_text_atomic(cached, json.dumps(answer))
        return answer

    def post_many(self, path: str, bodies: Sequence[Json]) -> list[Json]:
        """:meth:`post` for each body, ``max_concurrency`` at a time; answers in the order of ``bodies``."""
        if len(bodies) <= 1:
            return [self.post(path, b) for b in bodies]
        with ThreadPoolExecutor(min(self.server.max_concurrency, len(bodies))) as pool:
            return list(pool.map(lambda b: self.post(path, b), bodies))

    def _cache_file(self, url: str, body: Json) -> Path | None:
        if self.cache_dir is None:
            return None
        request = json.dumps({"url": url, "body": body}, sort_keys=True)
        key = hashlib.sha256(request.encode("utf-8")).hexdigest()
        return self.cache_dir / key[:2] / f"{key}.json"

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def _send_with_retries(self, url: str, body: Json) -> Json:
        for attempt in range(self.server.max_retries + 1):
            try:
                with self._slots:
                    return self._send(url, body)
            except _Retryable as err:
                if attempt == self.server.max_retries:
                    raise OpenAIRequestError(f"{url}: gave up after {attempt + 1} attempts; last error: "
                                             f"{err}", err.status) from None
                self._count("retries")
                server = self.server
                self.sleep(min(server.max_backoff, max(server.backoff * 2 ** attempt, err.retry_after)))
        raise AssertionError("unreachable")

    def _send(self, url: str, body: Json) -> Json:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(url, json.dumps(body).encode("utf-8"), headers, method="POST")
        self._count("requests")
        try:
            with self._opener.open(request, timeout=self.server.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            if 300 <= err.code < 400:
                raise OpenAIRequestError(
                    f"{url}: HTTP {err.code} redirect to {err.headers.get('Location')!r} refused (the "
                    "API key is only sent to the configured host); pass the final URL as base_url",
                    err.code) from None
            detail = err.read().decode("utf-8", "replace")[:500]
            if err.code == 429 or err.code >= 500:
                raise _Retryable(f"HTTP {err.code}: {detail}", err.code, _retry_after(err.headers)) from None
            raise OpenAIRequestError(f"{url}: HTTP {err.code}: {detail}", err.code) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, HTTPException) as err:
            raise _Retryable(f"{type(err).__name__}: {getattr(err, 'reason', err)}", None) from None
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise OpenAIRequestError(f"{url}: the answer is not JSON: {raw[:200]!r}") from None


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Follow no redirect: urllib then raises the 3xx answer as an ``HTTPError``."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _retry_after(headers: Any) -> float:
    try:
        return max(float(headers.get("Retry-After", 0)), 0.0)
    except (TypeError, ValueError):
        return 0.0
