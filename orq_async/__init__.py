"""orq_async: an asyncio-native client for the Orq AI router completions API."""

from __future__ import annotations
