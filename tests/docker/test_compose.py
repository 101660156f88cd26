"""The compose file's syntax: `docker compose config` where it exists, else a schema."""

import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"

SCHEMA = {
    "type": "object",
    "required": ["services", "volumes"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "services": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "anyOf": [{"required": ["image"]}, {"required": ["build"]}],
                "properties": {
                    "image": {"type": "string"},
                    "build": {
                        "type": "object",
                        "required": ["context", "dockerfile"],
                        "properties": {
                            "context": {"type": "string"},
                            "dockerfile": {"type": "string"},
                        },
                    },
                    "restart": {
                        "enum": ["no", "always", "on-failure", "unless-stopped"]
                    },
                    "env_file": {"type": "string"},
                    "environment": {"type": ["object", "array"]},
                    "volumes": {"type": "array", "items": {"type": "string"}},
                    "depends_on": {"type": ["object", "array"]},
                    "healthcheck": {"type": "object", "required": ["test"]},
                    "entrypoint": {"type": ["string", "array"]},
                    "command": {"type": ["string", "array"]},
                },
                "additionalProperties": False,
            },
        },
        "volumes": {"type": "object"},
    },
}


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_file_matches_the_schema():
    jsonschema.validate(compose(), SCHEMA)


def test_mongodb_has_authentication_a_named_volume_and_a_worker():
    spec = compose()
    mongo, worker = spec["services"]["mongo"], spec["services"]["worker"]
    env = dict(
        line.split("=", 1)
        for line in (DOCKER / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert {"MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD"} <= set(env)
    assert mongo["env_file"] == worker["env_file"] == ".env"
    assert env["MATFORGE_STORE__PASSWORD"] == env["MONGO_INITDB_ROOT_PASSWORD"]
    named = set(spec["volumes"])
    for service in (mongo, worker):
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith((".", "/")) or source in named, volume
    assert "mongo-data:/data/db" in mongo["volumes"]
    assert "rlaunch" in " ".join(worker["command"])
    assert worker["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert (DOCKER / worker["build"]["dockerfile"].removeprefix("docker/")).is_file()


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(
        ["docker", "compose", "version"], capture_output=True, check=False
    ).returncode
    != 0,
    reason="docker compose is not installed; the schema test checks the syntax",
)
def test_docker_compose_config(tmp_path):
    env = DOCKER / ".env"
    created = not env.exists()
    if created:
        env.write_text((DOCKER / "env.example").read_text())
    try:
        out = subprocess.run(
            ["docker", "compose", "-f", str(DOCKER / "compose.yaml"), "config", "-q"],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        if created:
            env.unlink()
    assert out.returncode == 0, out.stderr
