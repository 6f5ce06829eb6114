"""One streamed request to an OpenAI-compatible server, read by its own thread: the SSE `data:`
chunks go into a queue that RemoteLLM.step() takes from, so many sequences stream at once."""
from __future__ import annotations

import json
import queue
import threading

import httpx

from engine.errors import EngineError

LOGPROB_KEYS = ("logprobs", "top_logprobs")


class RemoteError(EngineError):
    """The remote engine failed or refused a request (str: one line for the user)."""

    @staticmethod
    def message(r: httpx.Response) -> str:
        try:
            return str(r.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            return r.text.strip().splitlines()[0][:200] if r.text.strip() else r.reason_phrase


class Stream:
    def __init__(self, client: httpx.Client, path: str, body: dict):
        self.items: queue.Queue[dict | Exception | None] = queue.Queue()
        self.closed = False
        self.reasoned = False  # the server sent reasoning deltas (its parser took <think> apart)
        self.dropped_logprobs = False  # the server refused logprobs; they were left out
        threading.Thread(target=self._read, args=(client, path, body), daemon=True).start()

    def next(self, timeout: float) -> dict | None:
        """The next chunk; None once the stream has ended."""
        try:
            item = self.items.get(timeout=timeout)
        except queue.Empty:
            raise RemoteError(f"the remote engine sent nothing for {timeout:g} s") from None
        if isinstance(item, Exception):
            raise item
        return item

    def drain(self, timeout: float = 30.0) -> dict | None:
        """Read to the end; the last usage seen."""
        usage = None
        while (chunk := self.next(timeout)) is not None:
            usage = chunk.get("usage") or usage
        return usage

    def close(self) -> None:
        """Stop reading; the connection closes at the next chunk, which ends the server's work."""
        self.closed = True

    def _read(self, client: httpx.Client, path: str, body: dict) -> None:
        try:
            self._request(client, path, body)
        except RemoteError as err:
            self.items.put(err)
        except httpx.HTTPError as err:
            self.items.put(RemoteError(f"the remote engine's connection failed: {err}"))
        except ValueError as err:
            self.items.put(RemoteError(f"the remote engine sent a chunk that is not JSON: {err}"))
        finally:
            self.items.put(None)

    def _request(self, client: httpx.Client, path: str, body: dict) -> None:
        for retry in (False, True):
            with client.stream("POST", path, json=body) as r:
                if r.status_code >= 400:
                    r.read()
                    if r.status_code == 400 and not retry and any(k in body for k in LOGPROB_KEYS):
                        body = {k: v for k, v in body.items() if k not in LOGPROB_KEYS}
                        continue  # some servers cap or lack logprobs: go on without them
                    raise RemoteError(f"the remote engine answered {r.status_code}: "
                                      f"{RemoteError.message(r)}")
                self.dropped_logprobs = retry
                for line in r.iter_lines():
                    if self.closed:
                        return
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    chunk = json.loads(data)
                    if isinstance(chunk, dict) and "error" in chunk:
                        raise RemoteError(f"the remote engine failed: {chunk['error'].get('message')}")
                    self.items.put(chunk)
                return
