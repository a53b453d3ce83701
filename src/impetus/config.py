"""Settings, defined once.

Precedence, highest first: values passed in (the CLI), environment variables `IMPETUS_*`,
the TOML file `config.toml` in the platform config dir (or `IMPETUS_CONFIG`), then defaults.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

APP_NAME = "impetus"


def config_file() -> Path:
    """Where the TOML config lives; `IMPETUS_CONFIG` points elsewhere (tests, services)."""
    override = os.environ.get("IMPETUS_CONFIG")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMPETUS_", extra="forbid")

    host: str = Field("127.0.0.1", description="Address to bind.")
    port: int = Field(8080, ge=0, le=65535, description="Port to bind.")
    model: str | None = Field(None, description="GGUF path or registered model name.")
    ctx: int | None = Field(
        None, ge=64, description="Context tokens per request (default: the model's, capped)."
    )
    threads: int | None = Field(None, ge=1, description="CPU threads for inference.")
    engine: Literal["auto", "llama.cpp", "mlx"] = Field(
        "auto", description="Inference engine; auto picks MLX on Apple Silicon when installed."
    )
    parallel: int = Field(8, ge=1, le=64, description="Sequence slots decoded together.")
    cache_type_k: Literal["q8_0", "f16"] = Field(
        "q8_0",
        description="llama.cpp KV-cache key type. q8_0 keeps output independent of batching"
        " and thread count; f16 prefills long prompts faster but lets them vary.",
    )
    api_keys: list[SecretStr] = Field(
        default_factory=list, description="Accepted API keys (Bearer or x-api-key)."
    )
    insecure: bool = Field(False, description="Allow a non-loopback bind without an API key.")
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Extra Host header values accepted."
    )
    cors_origins: list[str] = Field(default_factory=list, description="Extra CORS origins.")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest JSON body.")
    queue_size: int = Field(64, ge=1, description="Requests allowed to wait for a slot.")
    data_dir: Path = Field(default_factory=default_data_dir, description="Models, logs, indexes.")
    rag_server: str | None = Field(
        None, description="Chroma server URL for RAG collections; none keeps them in-process."
    )
    log_level: str = Field("info", description="debug, info, warning or error.")
    extra_model_dirs: list[Path] = Field(
        default_factory=list, description="More folders scanned for models."
    )
    memory_budget_bytes: int = Field(
        4 * 1024**3, ge=0, description="Memory for loaded models; LRU models unload past it."
    )
    keep_alive: str = Field(
        "5m", description="Idle time before a model unloads (Ollama style: 30s, 5m, -1 = never)."
    )
    max_upload_bytes: int = Field(
        64 * 1024**3, ge=1024, description="Largest model upload (POST /admin/models)."
    )
    request_timeout: float = Field(
        600.0,
        ge=0,
        description="Seconds a generation may take, queue included; it then ends as if it had"
        " reached max_tokens (finish_reason length) and frees its slot. 0 = no limit.",
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        value = value.lower()
        if value not in {"debug", "info", "warning", "error"}:
            raise ValueError("log_level must be debug, info, warning or error")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file())
        return (init_settings, env_settings, toml)

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def registry_path(self) -> Path:
        return self.data_dir / "registry.sqlite3"

    @property
    def keys_path(self) -> Path:
        return self.data_dir / "keys.sqlite3"

    @property
    def model_dirs(self) -> list[Path]:
        return [self.models_dir, *self.extra_model_dirs]

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def api_key_values(self) -> list[str]:
        return [key.get_secret_value() for key in self.api_keys if key.get_secret_value()]


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
