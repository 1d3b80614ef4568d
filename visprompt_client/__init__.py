"""Python client for the VisPrompt server (standard library only).

from visprompt_client import Client
answer = Client().prompt([("in.png", "out.png")], "query.png")
answer.save("answer.png")
"""

from __future__ import annotations

from visprompt_client.client import (
    DEFAULT_URL,
    Client,
    PromptResult,
    ServerError,
    build_request,
    default_token_file,
    read_token,
)

__all__ = [
    "DEFAULT_URL",
    "Client",
    "PromptResult",
    "ServerError",
    "build_request",
    "default_token_file",
    "read_token",
]
