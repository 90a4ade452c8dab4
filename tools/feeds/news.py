"""The news poller: RSS and Atom feeds read every `news_poll_s`, each new entry a NEWS event.

What it guarantees:
- an entry is announced once: deduplicated by its id (or link) and by the hash of its cleaned text (the same
  story under another id), both remembered in the hot store (`news:seen:<source>`, mirrored to the durable
  store), so a restart announces nothing twice; the memory keeps the latest `news_seen_max` keys;
- the text is untrusted: HTML tags and entities removed, control and format characters (bidi overrides,
  zero-width) stripped, whitespace collapsed, cut to `news_headline_max` / `news_body_max` characters; a link is
  kept only when it is http(s). The text reaches a model only as a quoted `<external_text trust="untrusted">`
  block (`graphs.deliberation.facts.external_texts`, escaped by `prompts.escaping`);
- only http(s) feed URLs are fetched, with a time limit and a size limit; a feed that cannot be fetched is logged
  and tried again at the next poll; a document that is no feed at all is a dead letter (once while it stays the
  same).
An entry that names a watched symbol (`news_symbols`: the ticker, or one of its words) carries it, so the
deliberation reads it for that symbol; without one it is recorded, not deliberated.
The event's time is when the poller saw the entry (a feed's own dates can be anything); its id is
`news-<hash of the entry id>`.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import re
import unicodedata
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import feedparser

from state.clock import Clock
from tools.feeds.config import FeedsConfig
from tools.feeds.live import Connection, DeadLetter, FeedError, Signal, Sleep, checked

log = logging.getLogger(__name__)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"[ \t\r\f\v]+")
_LINES = re.compile(r"\n{3,}")

Fetch = Callable[[str], Awaitable[bytes]]


class SeenStore(Protocol):
    """Where the seen keys live (the hot store: `state.hot.HotStore` has these two)."""

    async def get_value(self, key: str) -> Any: ...

    async def set_value(self, key: str, value: Any, ttl_s: float | None = None) -> None: ...


def untrusted_text(text: str, limit: int) -> str:
    """`text` from outside as plain text: tags and entities gone, control and format characters stripped,
    whitespace collapsed, at most `limit` characters."""
    plain = html.unescape(_TAG.sub(" ", text))
    kept = "".join(c for c in plain if c in "\n\t" or unicodedata.category(c)[0] != "C")
    kept = _LINES.sub("\n\n", "\n".join(_SPACE.sub(" ", line).strip() for line in kept.split("\n"))).strip()
    return kept if len(kept) <= limit else kept[: max(limit - 1, 0)].rstrip() + "…"


def mentioned_symbols(text: str, watch: dict[str, tuple[str, ...]]) -> list[str]:
    """The watched symbols `text` names: the ticker as a word (case kept), or one of its words (any case)."""
    found = []
    for symbol, words in watch.items():
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(symbol)}(?![A-Za-z0-9])", text) or any(
            re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE) for word in words
        ):
            found.append(symbol)
    return found


def http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


def http_fetch(timeout_s: float, max_bytes: int) -> Fetch:
    async def fetch(url: str) -> bytes:
        def get() -> bytes:
            request = urllib.request.Request(url, headers={"User-Agent": "aegis-news/1"})
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # http(s) only: checked at start
                body: bytes = response.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise ValueError(f"larger than {max_bytes} bytes")
            return body

        return await asyncio.to_thread(get)

    return fetch


@dataclass
class NewsPollerSource:
    urls: Sequence[str]
    config: FeedsConfig
    clock: Clock
    seen_store: SeenStore
    name: str = "news"
    sleep: Sleep = asyncio.sleep
    fetch: Fetch | None = None
    max_polls: int | None = None  # None: poll until stopped
    market: bool = False
    polls: int = 0
    _refused: dict[str, str] = field(default_factory=dict)  # url -> hash of the last document refused
    _seen: list[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        bad = [url for url in self.urls if not http_url(url)]
        if bad or not self.urls:
            raise FeedError(f"{self.name}: feed URLs must be http(s): {', '.join(bad) or '(none given)'}")

    @property
    def seen_key(self) -> str:
        return f"news:seen:{self.name}"

    async def signals(self) -> AsyncIterator[Signal]:
        fetch = self.fetch or http_fetch(self.config.news_timeout_s, self.config.news_max_bytes)
        if self._seen is None:
            stored = await self.seen_store.get_value(self.seen_key)
            self._seen = [str(k) for k in stored] if isinstance(stored, list) else []
        while self.max_polls is None or self.polls < self.max_polls:
            self.polls += 1
            fresh = 0
            for url in self.urls:
                try:
                    document = await fetch(url)
                except Exception as exc:  # the network, the server: next poll tries again
                    log.warning("%s: %s not fetched: %s", self.name, _where(url), str(exc).splitlines()[0][:200])
                    continue
                for signal in await self._entries(url, document):
                    fresh += isinstance(signal, DeadLetter) is False
                    yield signal
            log.info("%s: poll %d: %d new entries", self.name, self.polls, fresh)
            yield Connection("heartbeat", f"poll {self.polls}")
            if self.max_polls is None or self.polls < self.max_polls:
                await self.sleep(self.config.news_poll_s)

    async def _entries(self, url: str, document: bytes) -> list[Signal]:
        parsed: Any = feedparser.parse(document)
        if not parsed.entries and (parsed.bozo or not parsed.version):
            reason = f"not an RSS/Atom feed: {str(parsed.get('bozo_exception', 'no entries'))[:200]}"
            digest = hashlib.sha256(document).hexdigest()
            if self._refused.get(url) == digest:  # the same document again: recorded once already
                log.warning("%s: %s still %s", self.name, _where(url), reason)
                return []
            self._refused[url] = digest
            return [DeadLetter(f"{_where(url)}: {document[:300]!r}", reason)]
        signals: list[Signal] = []
        for entry in parsed.entries:
            signal = await self._entry(entry)
            if signal is not None:
                signals.append(signal)
        return signals

    async def _entry(self, entry: Any) -> Signal | None:
        assert self._seen is not None
        headline = untrusted_text(str(entry.get("title", "")), self.config.news_headline_max)
        content = entry.get("content") or []
        raw_body = content[0].get("value", "") if content else entry.get("summary", "")
        body = untrusted_text(str(raw_body), self.config.news_body_max)
        link = str(entry.get("link", ""))[:2000]
        ident = str(entry.get("id") or link or headline)
        id_key = "id:" + hashlib.sha256(ident.encode("utf-8", "replace")).hexdigest()[:24]
        text_key = "text:" + hashlib.sha256(f"{headline}\n{body}".casefold().encode()).hexdigest()[:24]
        if id_key in self._seen or text_key in self._seen:
            return None
        await self._remember(id_key, text_key)
        if not headline:
            return DeadLetter(ident[:300], "news entry without a headline")
        now = self.clock.now()
        symbols = mentioned_symbols(f"{headline}\n{body}", self.config.news_symbols)
        return checked({
            "id": f"news-{id_key[3:]}", "type": "NEWS", "source": self.name, "event_time": now.isoformat(),
            "received_time": now.isoformat(), "symbols": symbols,
            "payload": {"headline": headline, "body": body, "url": link if http_url(link) else None},
        })  # fmt: skip

    async def _remember(self, *keys: str) -> None:
        assert self._seen is not None
        self._seen.extend(keys)
        del self._seen[: max(len(self._seen) - self.config.news_seen_max, 0)]
        await self.seen_store.set_value(self.seen_key, list(self._seen))
