"""The Kubernetes rollout: after a promotion, patch the scoring Deployment's pod template.

Changing the annotation ``driftloop.io/champion-version`` in ``spec.template.metadata`` makes
the Deployment controller start a rolling update, so every scoring pod restarts on the new
champion even if its registry watch missed the move. Scoring instances also pick the alias up
themselves, so this is belt and braces and off unless ``DRIFTLOOP_ROLLOUT__ENABLED``.
The patch is a strategic merge patch (the client's default for PATCH would be a JSON patch,
which needs a list of operations, so the content type is set explicitly).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from driftloop_controller.errors import RolloutError
from driftloop_controller.settings import RolloutSettings

logger = logging.getLogger(__name__)

VERSION_ANNOTATION = "driftloop.io/champion-version"
MODEL_ANNOTATION = "driftloop.io/champion-model"
PATCH_CONTENT_TYPE = "application/strategic-merge-patch+json"


def champion_patch(model: str, version: int) -> dict[str, Any]:
    annotations = {VERSION_ANNOTATION: str(version), MODEL_ANNOTATION: model}
    return {"spec": {"template": {"metadata": {"annotations": annotations}}}}


def _configuration(settings: RolloutSettings) -> client.Configuration:
    return api_configuration(settings.host, settings.token, settings.verify_ssl)


def api_configuration(host: str, token: str, verify_ssl: bool) -> client.Configuration:
    """The client's configuration: ``host`` (and ``token``) when given, else in-cluster or ~/.kube/config."""
    configuration = client.Configuration()
    if host:
        configuration.host = host.rstrip("/")
        configuration.verify_ssl = verify_ssl
        if token:
            configuration.api_key = {"BearerToken": token}
            configuration.api_key_prefix = {"BearerToken": "Bearer"}
        return configuration
    try:  # in a pod: the service account's token and the cluster's CA
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except ConfigException:
        config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return configuration


def patch_scoring(settings: RolloutSettings, model: str, version: int) -> dict[str, Any]:
    """Patch the Deployment (blocking); returns what was patched, for the job's record."""
    body = champion_patch(model, version)
    target = f"deployment {settings.namespace}/{settings.deployment}"
    try:
        with client.ApiClient(_configuration(settings)) as api:
            client.AppsV1Api(api).patch_namespaced_deployment(
                settings.deployment, settings.namespace, body, _content_type=PATCH_CONTENT_TYPE
            )
    except ApiException as exc:
        raise RolloutError(f"the Kubernetes API server refused to patch {target}: {exc.status} {exc.reason}") from exc
    except (ConfigException, OSError) as exc:
        raise RolloutError(f"could not reach the Kubernetes API server to patch {target}: {exc}") from exc
    except Exception as exc:  # urllib3 raises its own errors for connection problems
        raise RolloutError(f"could not patch {target}: {type(exc).__name__}: {exc}") from exc
    logger.info("patched %s: %s=%s", target, VERSION_ANNOTATION, version)
    return {"deployment": target, "annotations": body["spec"]["template"]["metadata"]["annotations"]}


async def roll_out(settings: RolloutSettings, model: str, version: int) -> dict[str, Any] | None:
    """Patch the scoring Deployment when rollout is enabled (the client is blocking: run it in a thread)."""
    if not settings.enabled:
        return None
    return await asyncio.to_thread(patch_scoring, settings, model, version)
