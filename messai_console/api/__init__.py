"""The platform's HTTP API: jobs, live updates (WebSocket, SSE) and Prometheus metrics.

``create_app`` builds the ASGI application; ``messai-console serve`` runs it
with uvicorn.
"""

from messai_console.api.app import create_app
from messai_console.api.config import ApiConfig

__all__ = ["ApiConfig", "create_app"]
