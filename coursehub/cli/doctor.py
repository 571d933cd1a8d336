"""``coursehub doctor``: check a deployment from the admin's laptop and say what is wrong.

It asks, with the admin's hub token and kubeconfig:
- the hub: ``/hub/api/`` (reachable, its version), ``/hub/api/user`` (whose token, an
  admin?), ``/hub/api/services`` (is the coursehub service registered?);
- the coursehub service through the hub: its health endpoint, and ``api/catalog`` (the
  courses the deployment loaded and every problem in its course files);
- the Kubernetes API: nodes (which advertise GPUs, whole, shared or MIG, and whether the
  catalog's GPU environments find them), storage classes (a default one; ReadWriteMany
  where shared data or a multi-replica service needs it) and the release namespace's Pod
  Security Admission level.

This module gathers those facts (``gather``); ``coursehub.cli.doctor_findings`` judges
them. Each finding is printed as ``✓``/``✗``/``!`` and a sentence; the exit code is 1 when
any is ``✗``, 2 when the command is not configured (no hub URL, no token).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from coursehub.cli.connection import CLIError, Connection, add_connection_options

if TYPE_CHECKING:
    from coursehub.cli.doctor_findings import ClusterFacts, Facts, HubFacts, ServiceFacts

DEFAULT_TIMEOUT = 10.0


def add_parser(subcommands) -> None:
    doctor = subcommands.add_parser(
        "doctor",
        help="check a deployment: hub, token, coursehub service, catalog, GPU nodes, storage",
    )
    add_connection_options(doctor)
    doctor.add_argument(
        "--token",
        default=None,
        help="an admin's hub API token (default: $COURSEHUB_TOKEN; prefer the variable, a "
        "flag is visible to other users of the machine)",
    )
    doctor.add_argument(
        "--service-name", default="coursehub", help="the coursehub service's name at the hub"
    )
    doctor.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        help="kubeconfig of the cluster the hub runs on (default: $KUBECONFIG, coursehub "
        "dev's, else ~/.kube/config)",
    )
    doctor.add_argument("--context", default=None, help="the kubeconfig context to use")
    doctor.add_argument(
        "--namespace",
        default=None,
        help="the release's namespace, for its Pod Security labels (default: the context's, "
        "else default)",
    )
    doctor.add_argument(
        "--no-cluster", action="store_true", help="skip the Kubernetes API (nodes, storage)"
    )
    doctor.add_argument(
        "--service-replicas",
        type=int,
        default=1,
        help="replicas of the coursehub service (service.replicas): above 1 its store needs "
        "ReadWriteMany",
    )
    doctor.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait for each answer"
    )
    doctor.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coursehub.cli.doctor_findings import diagnose, failed

    environ = dict(os.environ)
    if args.token:
        environ["COURSEHUB_TOKEN"] = args.token
    try:
        connection = Connection.resolve(args.hub_url, args.state_dir, environ)
    except CLIError as error:
        print(f"coursehub doctor: {error}", file=sys.stderr)
        return error.code
    facts = gather(
        connection,
        args.service_name,
        None if args.no_cluster else kubeconfig_path(args.kubeconfig, args.state_dir),
        args.context,
        args.timeout,
        args.service_replicas,
        args.namespace,
    )
    findings = diagnose(facts)
    show(findings)
    return 1 if failed(findings) else 0


def show(findings, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    for finding in findings:
        print(finding, file=out)
    problems = sum(finding.verdict == "problem" for finding in findings)
    warnings = sum(finding.verdict == "warning" for finding in findings)
    if problems:
        summary = f"{problems} problem(s) found."
    elif warnings:
        summary = f"No problem found; {warnings} warning(s) (!) to read."
    else:
        summary = "Everything checked is fine."
    print(summary, file=out)


def kubeconfig_path(given: Path | None, state_dir: Path) -> Path:
    if given is not None:
        return given
    if os.environ.get("KUBECONFIG"):
        return Path(os.environ["KUBECONFIG"].split(os.pathsep)[0])
    dev = state_dir / "kubeconfig"
    if dev.exists():
        return dev
    return Path.home() / ".kube" / "config"


def gather(
    connection: Connection,
    service_name: str,
    kubeconfig: Path | None,
    context: str | None,
    timeout: float,
    service_replicas: int = 1,
    namespace: str | None = None,
) -> Facts:
    from coursehub.cli.doctor_findings import Facts

    hub = gather_hub(connection, timeout)
    service = None
    if hub.reached and hub.status == 200:
        service = gather_service(connection, service_name, timeout)
    cluster = None
    if kubeconfig is not None:
        cluster = asyncio.run(gather_cluster(kubeconfig, context, timeout, namespace))
    return Facts(hub=hub, service=service, cluster=cluster, service_replicas=service_replicas)


def _get(url: str, token: str | None, timeout: float):
    """``(status, JSON body or None, error)``: status 0 and the error when nothing answered."""
    import requests

    headers = {"Authorization": f"token {token}"} if token else {}
    try:
        response = requests.get(url, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        return 0, None, f"no answer within {timeout:g} s"
    except requests.RequestException as error:
        return 0, None, _reason(error)
    try:
        body = response.json()
    except ValueError:
        body = None
    return response.status_code, body, ""


def _reason(error: Exception) -> str:
    """The last words of a connection error (``Connection refused``), not its repr."""
    import re

    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(error))
    return found.group(1).strip() if found else type(error).__name__


def gather_hub(connection: Connection, timeout: float) -> HubFacts:
    from coursehub.cli.doctor_findings import HubFacts

    api = f"{connection.hub_url}/hub/api"
    status, body, error = _get(f"{api}/", None, timeout)
    if status == 0:
        return HubFacts(connection.hub_url, reached=False, error=error)
    version = body.get("version") if isinstance(body, dict) else None
    if status != 200 or version is None:
        return HubFacts(connection.hub_url, reached=True, status=status)
    token_status, user, _ = _get(f"{api}/user", connection.token, timeout)
    services_status, services, _ = _get(f"{api}/services", connection.token, timeout)
    return HubFacts(
        connection.hub_url,
        reached=True,
        status=status,
        version=version,
        token_status=token_status,
        user=user if token_status == 200 and isinstance(user, dict) else None,
        services=sorted(services)
        if services_status == 200 and isinstance(services, dict)
        else None,
        services_status=services_status,
    )


def gather_service(connection: Connection, name: str, timeout: float) -> ServiceFacts:
    from coursehub.cli.doctor_findings import ServiceFacts

    base = f"{connection.hub_url}/services/{name}/api"
    health_status, health, health_error = _get(f"{base}/health", None, timeout)
    catalog_status, catalog, catalog_error = 0, None, ""
    if health_status == 200:
        catalog_status, catalog, catalog_error = _get(f"{base}/catalog", connection.token, timeout)
        if catalog_status != 200 and isinstance(catalog, dict):
            catalog_error = f"HTTP {catalog_status}: {catalog.get('message')}"
            catalog = None
    return ServiceFacts(
        name=name,
        health_status=health_status,
        health=health if isinstance(health, dict) else None,
        health_error=health_error,
        catalog_status=catalog_status,
        catalog=catalog if catalog_status == 200 and isinstance(catalog, dict) else None,
        catalog_error=catalog_error,
    )


async def gather_cluster(
    kubeconfig: Path, context: str | None, timeout: float, namespace: str | None = None
) -> ClusterFacts:
    from kubernetes_asyncio import client, config
    from kubernetes_asyncio.client.exceptions import ApiException

    from coursehub.cli.doctor_findings import ClusterFacts

    where = f"{kubeconfig}" + (f", context {context}" if context else "")
    if not kubeconfig.exists():
        return ClusterFacts(where, error=f"there is no kubeconfig at {kubeconfig}")
    configuration = client.Configuration()
    try:
        await config.load_kube_config(
            config_file=str(kubeconfig), context=context, client_configuration=configuration
        )
        if namespace is None:
            contexts, active = config.list_kube_config_contexts(config_file=str(kubeconfig))
            chosen = (
                next((c for c in contexts if c["name"] == context), active) if context else active
            )
            namespace = (chosen.get("context") or {}).get("namespace") or "default"
    except Exception as error:  # the loader raises several kinds, all meaning "unusable"
        return ClusterFacts(where, error=f"{kubeconfig} cannot be used: {error}")

    def why(error: Exception) -> str:
        if isinstance(error, ApiException):
            return f"HTTP {error.status} {error.reason}"
        if isinstance(error, TimeoutError):
            return f"no answer within {timeout:g} s"
        return _reason(error)

    async with client.ApiClient(configuration) as api:
        try:
            nodes_list = await asyncio.wait_for(
                client.CoreV1Api(api).list_node(_preload_content=False), timeout
            )
            nodes = (await nodes_list.json())["items"]
            nodes_error = ""
        except ApiException as error:
            nodes, nodes_error = None, why(error)
        except Exception as error:
            return ClusterFacts(
                where, error=f"nothing answers at {configuration.host} ({why(error)})"
            )
        try:
            classes_list = await asyncio.wait_for(
                client.StorageV1Api(api).list_storage_class(_preload_content=False), timeout
            )
            classes = (await classes_list.json())["items"]
            classes_error = ""
        except (ApiException, TimeoutError) as error:
            classes, classes_error = None, why(error)
        try:
            read = await asyncio.wait_for(
                client.CoreV1Api(api).read_namespace(namespace, _preload_content=False), timeout
            )
            labels = (await read.json())["metadata"].get("labels") or {}
            namespace_error = ""
        except (ApiException, TimeoutError) as error:
            labels, namespace_error = None, why(error)
    return ClusterFacts(
        where,
        server=configuration.host,
        nodes=nodes,
        nodes_error=nodes_error,
        storage_classes=classes,
        storage_classes_error=classes_error,
        namespace=namespace,
        namespace_labels=labels,
        namespace_error=namespace_error,
    )
