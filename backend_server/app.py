"""The app factory: routes of API v1 on top of a ``Service``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from backend_server import __version__, schemas
from backend_server.config import ServerConfig
from backend_server.errors import install_error_handlers
from backend_server.models import ModelManager
from backend_server.security import SecurityMiddleware
from backend_server.service import Service

logger = logging.getLogger(__name__)

_ERR = {"model": schemas.ErrorResponse}
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {**_ERR, "description": "unauthorized: missing or wrong token"},
    403: {**_ERR, "description": "forbidden_host / forbidden_origin"},
    413: {**_ERR, "description": "body_too_large"},
}
PROMPT_ERRORS: dict[int | str, dict[str, Any]] = {
    **COMMON_ERRORS,
    400: {**_ERR, "description": "bad_json, bad_image, bad_input, size_mismatch, too_many_pairs"},
    404: {**_ERR, "description": "unknown_model"},
    409: {**_ERR, "description": "model_not_downloaded, bad_checkpoint"},
    413: {**_ERR, "description": "body_too_large, image_too_large"},
    429: {**_ERR, "description": "queue_full (see Retry-After)"},
    503: {**_ERR, "description": "out_of_memory, shutting_down"},
    504: {**_ERR, "description": "timeout"},
}


def create_app(config: ServerConfig, manager: ModelManager | None = None) -> FastAPI:
    """Build the ASGI app. ``manager`` replaces the model manager (tests, embedding)."""
    config.validate()
    service = Service(config, manager)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="VisPrompt server",
        version=__version__,
        summary="Visual prompting by inpainting: example pairs + query -> answer image.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    install_error_handlers(app)
    _add_routes(app, service)
    _add_security_scheme(app)
    app.add_middleware(SecurityMiddleware, config=config)  # type: ignore[arg-type]
    return app


def _add_routes(app: FastAPI, service: Service) -> None:
    @app.get(
        "/v1/health",
        response_model=schemas.HealthResponse,
        tags=["server"],
        operation_id="health",
        responses={403: COMMON_ERRORS[403]},
    )
    async def health() -> dict[str, str]:
        """Liveness check; the only call that needs no token."""
        return {"status": "ok"}

    @app.get(
        "/v1/info",
        response_model=schemas.InfoResponse,
        responses=COMMON_ERRORS,
        tags=["server"],
        operation_id="info",
    )
    def info() -> dict[str, Any]:
        """Version, device, memory, models, queue and limits."""
        return service.info()

    @app.get(
        "/v1/models",
        response_model=schemas.ModelsResponse,
        responses=COMMON_ERRORS,
        tags=["models"],
        operation_id="list_models",
    )
    def models() -> dict[str, Any]:
        """Known models, whether their weights are on disk and which one is loaded."""
        return {"models": service.models()}

    @app.post(
        "/v1/models/load",
        response_model=schemas.LoadModelResponse,
        responses=PROMPT_ERRORS,
        tags=["models"],
        operation_id="load_model",
    )
    def load_model(body: schemas.LoadModelRequest) -> dict[str, str]:
        """Load a model by name (replacing the loaded one) and wait until it is ready."""
        return {"loaded_model": service.load_model(body.name)}

    @app.post(
        "/v1/prompt",
        response_model=schemas.PromptResponse,
        responses=PROMPT_ERRORS,
        tags=["prompt"],
        operation_id="prompt",
    )
    async def prompt(body: schemas.PromptRequest, request: Request) -> dict[str, Any]:
        """Answer one visual prompt and wait for it. Closing the connection cancels it."""
        return await service.run_prompt(body, request)

    @app.post(
        "/v1/jobs",
        response_model=schemas.JobCreated,
        status_code=202,
        responses=PROMPT_ERRORS,
        tags=["jobs"],
        operation_id="create_job",
    )
    async def create_job(body: schemas.PromptRequest) -> dict[str, str]:
        """Queue a prompt and return at once; poll GET /v1/jobs/{id}."""
        job = await service.create_job(body)
        return {"id": job.id, "state": job.task.state}

    job_errors: dict[int | str, dict[str, Any]] = {
        **COMMON_ERRORS,
        404: {**_ERR, "description": "not_found: no such job (finished jobs expire)"},
    }

    @app.get(
        "/v1/jobs/{job_id}",
        response_model=schemas.JobStatus,
        response_model_exclude_none=True,
        responses=job_errors,
        tags=["jobs"],
        operation_id="get_job",
    )
    async def job_status(job_id: str) -> dict[str, Any]:
        """State, progress estimate, and the result or error once finished."""
        return await service.job_status(job_id)

    @app.delete(
        "/v1/jobs/{job_id}",
        response_model=schemas.JobCreated,
        responses=job_errors,
        tags=["jobs"],
        operation_id="cancel_job",
    )
    async def cancel_job(job_id: str) -> dict[str, Any]:
        """Cancel a job. A job already finished keeps its state."""
        return await run_in_threadpool(service.cancel_job, job_id)


def _add_security_scheme(app: FastAPI) -> None:
    """Declare the bearer token in the OpenAPI document (the middleware enforces it)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "the token from the server's token file",
        }
        schema["security"] = [{"bearer": []}]
        created = schema["paths"]["/v1/jobs"]["post"]["responses"]["202"]
        job_id = {"job_id": "$response.body#/id"}
        created["links"] = {
            "GetJob": {"operationId": "get_job", "parameters": job_id},
            "CancelJob": {"operationId": "cancel_job", "parameters": job_id},
        }
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                # Validation errors are answered 400 bad_json, never FastAPI's 422.
                operation.get("responses", {}).pop("422", None)
                if path == "/v1/health":
                    operation["security"] = []
        for name in ("HTTPValidationError", "ValidationError"):
            components.get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
