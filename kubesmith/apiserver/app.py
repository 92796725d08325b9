"""The API server: one aiohttp application over HTTPS, every request through one pipeline.

    TLS (client certificate optional, verified against the cluster CA)
      → request info (verb, group, version, namespace, resource, subresource, name)
      → authenticate (401 when no authenticator recognises the caller; no anonymous access)
      → authorize (403 with upstream's message)
      → non-resource handlers (health, version, discovery, OpenAPI) or resource handlers
        (admission runs inside the write path, after defaulting and before storage)

Routing is a single catch-all handler parsing the path itself: Kubernetes paths are
regular, and one dispatch beats a router with hundreds of patterns on the hot path. Every
error leaves as a ``Status`` with the right code; an unexpected exception is logged with
its traceback and answered 500 without details.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiohttp import web

from kubesmith import __version__
from kubesmith.api import errors, protobuf
from kubesmith.api.encryption import EncryptionConfig
from kubesmith.api.registry import Registry
from kubesmith.api.resources import Resources
from kubesmith.api.services import ServiceNetwork
from kubesmith.api.strategies.base import Strategy
from kubesmith.api.types import Obj
from kubesmith.api.watchcache import CacheEvent
from kubesmith.apiserver import audit, handlers, pki, pod_streams, rbac, requestinfo, subresources
from kubesmith.apiserver.admission import AdmissionChain, NamespaceLifecycle, RBACEscalation
from kubesmith.apiserver.admission_plugins.defaultstorageclass import DefaultStorageClass
from kubesmith.apiserver.admission_plugins.defaulttolerationseconds import (
    DefaultTolerationSeconds,
)
from kubesmith.apiserver.admission_plugins.limitranger import LimitRanger
from kubesmith.apiserver.admission_plugins.podsecurity import (
    PodSecurity,
    namespace_labels_from,
    pods_from,
)
from kubesmith.apiserver.admission_plugins.priority import Priority
from kubesmith.apiserver.admission_plugins.resourcequota import ResourceQuota
from kubesmith.apiserver.admission_plugins.serviceaccount import ServiceAccount
from kubesmith.apiserver.admission_plugins.taintnodesbycondition import TaintNodesByCondition
from kubesmith.apiserver.authn import (
    Authenticator,
    AuthenticatorChain,
    UserInfo,
    X509Authenticator,
)
from kubesmith.apiserver.authz import (
    Attributes,
    AuthorizerChain,
    Decision,
    PrivilegedGroupAuthorizer,
)
from kubesmith.apiserver.certificates import CertificateSigner, CSRRequester
from kubesmith.apiserver.crds import CustomResourceManager
from kubesmith.apiserver.discovery import Discovery
from kubesmith.apiserver.node_authorizer import NodeAuthorizer, NodeRestriction
from kubesmith.apiserver.openapi import OpenAPI
from kubesmith.apiserver.rbac import EscalationGuard, RBACAuthorizer
from kubesmith.apiserver.serviceaccounts import BearerTokenAuthenticator, TokenService
from kubesmith.apiserver.tokens import BootstrapTokenAuthenticator, StaticTokenAuthenticator

log = logging.getLogger("kubesmith.apiserver")

Handler = Callable[[handlers.RequestContext], Awaitable[web.StreamResponse]]

_VERB_HANDLERS: dict[str, Handler] = {
    "get": handlers.get,
    "list": handlers.list_,
    "watch": handlers.watch,
    "create": handlers.create,
    "update": handlers.update,
    "patch": handlers.patch,
    "delete": handlers.delete,
    "deletecollection": handlers.delete_collection,
}

COMPONENT_IDENTITIES = (("controller-manager", "system:kube-controller-manager"),
                        ("scheduler", "system:kube-scheduler"))
# [streams hook] the API server's client identity towards node agents.
KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"
KUBELET_CLIENT_GROUP = "kubesmith:apiservers"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass
class ServerConfig:
    data_dir: Path
    datastore: str = ""
    bind_address: str = "127.0.0.1"
    secure_port: int = 6443
    tls_sans: list[str] = field(default_factory=list)
    advertise_address: str = ""
    token_auth_file: Path | None = None
    audit_policy_file: str = ""
    audit_log_path: str = ""
    audit_log_maxsize: int = 0
    audit_log_maxbackup: int = 0
    audit_log_maxage: int = 0
    encryption: EncryptionConfig | None = None
    service_cluster_ip_range: str = "10.96.0.0/12"
    service_node_port_range: tuple[int, int] = (30000, 32767)
    # Accept legacy Secret-based ServiceAccount tokens (--service-account-legacy-tokens).
    service_account_legacy_tokens: bool = False

    @property
    def endpoint_address(self) -> str:
        """The address clients and the ``kubernetes`` Service reach this server at."""
        if self.advertise_address:
            return self.advertise_address
        return "127.0.0.1" if self.bind_address in ("0.0.0.0", "::", "") else \
            self.bind_address

    @property
    def datastore_url(self) -> str:
        return self.datastore or f"sqlite://{self.data_dir.resolve() / 'db' / 'state.db'}"


class APIServer:
    def __init__(self, config: ServerConfig, resources: Resources) -> None:
        self.config = config
        self.resources = resources
        self.registry: Registry = resources.registry
        self.discovery = Discovery(self.registry)
        self.openapi = OpenAPI(self.registry)
        self.tokens = TokenService.load(config.data_dir / "pki" / "sa.key", resources,
                                        legacy=config.service_account_legacy_tokens)
        authenticators: list[Authenticator] = [X509Authenticator()]
        if config.token_auth_file is not None:
            authenticators.append(StaticTokenAuthenticator.from_file(config.token_auth_file))
        authenticators += [BearerTokenAuthenticator(self.tokens),
                           BootstrapTokenAuthenticator(resources)]
        self.authn = AuthenticatorChain(authenticators)
        # system:masters, then RBAC (the bootstrap policy grants discovery, health and
        # self-review to every authenticated user, as upstream's does).
        self.rbac = RBACAuthorizer(resources)
        self.authz = AuthorizerChain([PrivilegedGroupAuthorizer(), NodeAuthorizer(resources),
                                      self.rbac])
        # Mutating plugins first, then validating ones, as upstream orders them.
        self.resource_quota = ResourceQuota(resources)
        self.admission = AdmissionChain([
            NamespaceLifecycle(resources),
            LimitRanger(resources),
            ServiceAccount(resources),
            DefaultStorageClass(resources),
            DefaultTolerationSeconds(),
            TaintNodesByCondition(),
            Priority(resources),
            RBACEscalation(EscalationGuard(self.rbac, self.authz)),
            NodeRestriction(resources),
            CSRRequester(),
            PodSecurity(namespace_labels_from(resources), list_pods=pods_from(resources)),
            self.resource_quota,
        ])
        self.crds = CustomResourceManager(self)
        self.auditor = audit.Auditor.from_flags(
            config.audit_policy_file, config.audit_log_path,
            maxsize=config.audit_log_maxsize, maxbackup=config.audit_log_maxbackup,
            maxage=config.audit_log_maxage)
        # [streams hook] how pods/log, exec, attach, portforward reach node agents.
        self.kubelet = pod_streams.KubeletConnector.from_pki(config.data_dir / "pki")
        self.aggregation: asyncio.Task[None] | None = None
        self.signer: asyncio.Task[None] | None = None
        self.quota: asyncio.Task[None] | None = None
        self.started = time.monotonic()
        self.ready = False

    # ---- construction ------------------------------------------------------------------
    @classmethod
    async def create(cls, config: ServerConfig) -> APIServer:
        network = ServiceNetwork.parse(config.service_cluster_ip_range,
                                       config.service_node_port_range)
        resources = await Resources.open(Registry(), config.datastore_url, network,
                                         config.encryption)
        await resources.start()
        server = cls(config, resources)
        await server.bootstrap()
        await rbac.reconcile(resources)
        await rbac.reconcile_aggregation(resources)
        server.aggregation = asyncio.create_task(_aggregate_cluster_roles(resources),
                                                 name="clusterrole-aggregation")
        server.quota = asyncio.create_task(_track_quota_usage(server.resource_quota),
                                           name="quota-usage")
        server.signer = asyncio.create_task(
            CertificateSigner(resources, config.data_dir / "pki").run(), name="csr-signer")
        await server.crds.start()
        server.ready = True
        return server

    async def bootstrap(self) -> None:
        """Objects every cluster has: the system namespaces and the ``kubernetes``
        Service in ``default`` with its Endpoints and EndpointSlice pointing here."""
        for name in SYSTEM_NAMESPACES:
            await self._ensure("", "Namespace", None, {"metadata": {"name": name}})
        network = self.resources.allocator.network
        address = self.config.endpoint_address
        port = self.config.secure_port
        await self._ensure("", "Service", "default", {
            "metadata": {"name": "kubernetes", "labels": {
                "component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": network.kubernetes_ip,
                     "sessionAffinity": "None",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                "targetPort": port}]}})
        if ipaddress.ip_address(address).is_loopback:
            # Endpoints may not point at loopback (upstream validation), and pods could not
            # reach it anyway: start with --advertise-address to serve in-cluster clients.
            log.info("advertise address %s is loopback: the kubernetes Service gets no "
                     "endpoints", address)
            return
        await self._ensure("", "Endpoints", "default", {
            "metadata": {"name": "kubernetes", "labels": {
                "endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": address}],
                         "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]},
            replace=True)
        await self._ensure("discovery.k8s.io", "EndpointSlice", "default", {
            "metadata": {"name": "kubernetes", "labels": {
                "kubernetes.io/service-name": "kubernetes",
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
            "addressType": "IPv6" if ":" in address else "IPv4",
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}, replace=True)

    async def _ensure(self, group: str, kind: str, namespace: str | None, obj: Obj, *,
                      replace: bool = False) -> None:
        rs = self.resources.for_kind(group, kind)
        assert rs is not None, kind
        obj = {"apiVersion": rs.rt.api_version, "kind": kind, **obj}
        name = obj["metadata"]["name"]
        existing = rs.cache.get(rs.key(namespace, name))
        if existing is None:
            try:
                await rs.create(namespace, obj)
            except errors.StatusError as exc:
                if exc.code != 409:
                    raise
        elif replace:
            def transform(current: Obj | None) -> Obj:
                assert current is not None
                current.update({k: v for k, v in obj.items() if k != "metadata"})
                return current
            await rs.update(namespace, name, transform)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024, handler_args={
            "max_field_size": 16384})
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app[pod_streams.KUBELET] = self.kubelet  # [streams hook]
        if self.auditor is not None:
            app.on_response_prepare.append(self._audit_prepare)
        return app

    # ---- the pipeline ------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            resp = await self._handle(request)
        except errors.StatusError as exc:
            _audit_finish(request, exc.code, exc.to_status())
            return _status_response(exc)
        except asyncio.CancelledError:
            _audit_finish(request, 499)
            raise
        except ConnectionResetError:
            # The client went away mid-response (a closed watch, a killed kubectl): normal.
            log.debug("client disconnected: %s %s", request.method, request.path)
            _audit_finish(request, 499)
            return web.Response(status=499)
        except Exception as exc:
            log.exception("internal error serving %s %s", request.method, request.path)
            ctx = request.get("audit")
            if ctx is not None:
                ctx.panic(exc)
            return _status_response(errors.internal_error(
                "an unexpected error occurred; see the server log"))
        _audit_finish(request, resp.status)
        return resp

    async def _audit_prepare(self, request: web.Request,
                             response: web.StreamResponse) -> None:
        ctx = request.get("audit")
        if ctx is not None:
            response.headers["Audit-Id"] = ctx.audit_id
            if audit.is_long_running(ctx.info):
                ctx.response_started(response.status)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        query = {k: v for k, v in request.query.items()}
        info = requestinfo.parse(request.method, request.path, query)
        user = await self.authn.authenticate(request)
        if self.auditor is not None:
            request["audit"] = self.auditor.begin(info, user, request)
        if user is None:
            raise errors.unauthorized()
        await self._authorize(user, info, request.get("audit"))
        if not info.is_resource:
            return await self._non_resource(request, info)
        return await self._resource(request, info, user)

    async def _authorize(self, user: UserInfo, info: requestinfo.RequestInfo,
                         audit_ctx: audit.AuditContext | None = None) -> None:
        attrs = Attributes(user, info.verb, info.is_resource, info.path, info.group,
                           info.version, info.resource, info.subresource, info.namespace,
                           info.name)
        decision, reason = await self.authz.authorize(attrs)
        if audit_ctx is not None:
            audit_ctx.authorized(decision is Decision.ALLOW, reason)
        if decision is Decision.ALLOW:
            return
        if info.is_resource:
            raise errors.forbidden_request(user.name, info.verb, info.resource
                                           + (f"/{info.subresource}" if info.subresource
                                              else ""), info.group, info.name,
                                           info.namespace, reason)
        raise errors.StatusError(
            403, "Forbidden",
            f'forbidden: User "{user.name}" cannot {info.verb} path "{info.path}"'
            + (f": {reason}" if reason else ""), {})

    async def _non_resource(self, request: web.Request,
                            info: requestinfo.RequestInfo) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if request.method not in ("GET", "HEAD"):
            raise errors.method_not_supported("", request.method)
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(
                ("/healthz/", "/livez/", "/readyz/")):
            if path.startswith("/readyz") and not self.ready:
                return web.Response(status=500, text="[-]ready failed\nreadyz check failed\n")
            return web.Response(text="ok", content_type="text/plain")
        if path == "/version":
            return web.json_response(version_info())
        if path.startswith("/openapi"):
            reply = self.openapi.respond(path, dict(request.query),
                                         request.headers.get("Accept"),
                                         request.headers.get("If-None-Match"))
        else:
            reply = self.discovery.respond(path, request.headers.get("Accept"),
                                           request.headers.get("If-None-Match"))
        if reply is None:
            raise errors.not_found_path()
        return web.Response(status=reply.status, body=reply.body or None,
                            headers=dict(reply.headers))

    async def _resource(self, request: web.Request, info: requestinfo.RequestInfo,
                        user: UserInfo) -> web.StreamResponse:
        rt = self.registry.lookup(info.group, info.version, info.resource)
        if rt is None:
            raise errors.not_found_path()
        if rt.namespaced and not info.namespace and info.verb not in ("list", "watch"):
            raise errors.not_found_path()
        if rt.virtual and info.name:
            raise errors.not_found_path()  # computed kinds have no named objects
        if info.subresource:
            if info.subresource not in rt.subresources:
                raise errors.not_found_path()
            served = self.resources.get(rt)
            handler = subresources.handler_for(
                rt, info, served.strategy if served is not None else Strategy(rt))
            if handler is None:
                raise errors.method_not_supported(f"{rt.plural}/{info.subresource}",
                                                  info.verb, rt.group)
        else:
            if info.verb not in rt.verbs:
                raise errors.method_not_supported(rt.plural, info.verb, rt.group)
            handler = (subresources.virtual_handler(rt) if rt.virtual
                       else _VERB_HANDLERS[info.verb])
        rs = self.resources.get(rt) if not rt.virtual else None
        ctx = handlers.RequestContext(request, info, user, rt, rs, self.admission, self)
        return await handler(ctx)

    # ---- serving -----------------------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
        d = self.config.data_dir / "pki"
        ctx.load_cert_chain(d / "apiserver.crt", d / "apiserver.key")
        ctx.load_verify_locations(d / "ca.crt")
        # Optional: requests without a certificate may still authenticate with a token.
        ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx

    async def authenticate_token(self, token: str, audiences: list[str] | None = None
                                 ) -> UserInfo | None:
        """The user a bearer token stands for (TokenReview)."""
        return await self.tokens.verify(token, audiences)

    async def close(self) -> None:
        if self.auditor is not None:
            await asyncio.to_thread(self.auditor.close)
        for task in (self.aggregation, self.signer, self.quota):
            if task is not None:
                task.cancel()
        self.rbac.close()
        await self.crds.stop()
        await self.resources.close()


def _audit_finish(request: web.Request, code: int,
                  status: dict[str, object] | None = None) -> None:
    ctx = request.get("audit")
    if ctx is not None:
        ctx.finish(code, status)


def _status_response(exc: errors.StatusError) -> web.Response:
    headers = {"Content-Type": "application/json", "Cache-Control": "no-cache, private"}
    headers.update(exc.headers)
    return web.Response(status=exc.code, body=orjson.dumps(exc.to_status()), headers=headers)


async def _aggregate_cluster_roles(resources: Resources) -> None:
    """Keep aggregated ClusterRoles (admin, edit, view, ...) current as ClusterRoles change
    (upstream's clusterrole-aggregation controller)."""
    store = resources.for_kind("rbac.authorization.k8s.io", "ClusterRole")
    assert store is not None

    async def reaggregate(_changes: list[CacheEvent]) -> None:
        # One pass per batch of changes, whatever they were (level-triggered).
        try:
            await rbac.reconcile_aggregation(resources)
        except errors.StatusError as exc:
            log.warning("clusterrole aggregation: %s", exc)

    await store.cache.follow(reaggregate, name="clusterrole-aggregation", initial=False)


def load_encryption_config(path: Path) -> EncryptionConfig:
    """The ``--encryption-provider-config`` file (ValueError names the problem)."""
    return EncryptionConfig.load(path)


async def _track_quota_usage(quota: ResourceQuota) -> None:
    """Keep every ResourceQuota's status.used current (it skips quotas already right, so
    a short period is cheap); admission itself enforces from the live counts."""
    while True:
        try:
            await quota.recalculate()
        except errors.StatusError as exc:
            if exc.code not in (404, 409):
                log.warning("resource quota usage: %s", exc)
        await asyncio.sleep(1.0)


def _load_protobuf_schema() -> None:
    try:
        protobuf.default_decoder()
    except protobuf.SchemaUnavailable as exc:
        log.warning("protobuf request bodies are refused (415): %s", exc)


def version_info() -> dict[str, str]:
    import platform

    return {
        "major": "1", "minor": "37", "emulationMajor": "1", "emulationMinor": "37",
        "minCompatibilityMajor": "1", "minCompatibilityMinor": "36",
        "gitVersion": f"v1.37.0-kubesmith.{__version__}", "gitCommit": "",
        "gitTreeState": "clean", "buildDate": "", "goVersion": "",
        "compiler": "cpython", "platform": f"linux/{_arch(platform.machine())}",
    }


def _arch(machine: str) -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def prepare_pki(config: ServerConfig) -> tuple[pki.KeyPair, Path]:
    """CA, serving certificate and the admin kubeconfig under the data directory."""
    d = config.data_dir / "pki"
    ca = pki.ensure_ca(d)
    sans = pki.default_sans(config.bind_address,
                            [*config.tls_sans, *([config.advertise_address]
                                                 if config.advertise_address else [])])
    pki.ensure_serving_cert(ca, d, sans)
    pki.ensure_service_account_key(d)
    # [streams hook] the identity the API server presents to node agents (port 10250).
    pki.ensure_client_cert(ca, d, "apiserver-kubelet-client", KUBELET_CLIENT_USER,
                           [KUBELET_CLIENT_GROUP])
    admin = pki.ensure_client_cert(ca, d, "admin", "kubernetes-admin", ["system:masters"])
    host = config.endpoint_address
    if ":" in host:
        host = f"[{host}]"
    server_url = f"https://{host}:{config.secure_port}"
    kubeconfig = config.data_dir / "admin.kubeconfig"
    pki.write_kubeconfig(kubeconfig, server=server_url, ca=ca, client=admin)
    # Each control-plane component gets its own identity (bound by the bootstrap RBAC
    # policy), so nothing but the admin runs as system:masters.
    for stem, user in COMPONENT_IDENTITIES:
        cert = pki.ensure_client_cert(ca, d, stem, user)
        pki.write_kubeconfig(config.data_dir / f"{stem}.kubeconfig", server=server_url,
                             ca=ca, client=cert, user=stem)
    return ca, kubeconfig


async def serve(config: ServerConfig, *, ready: Callable[[Path], None] | None = None
                ) -> None:
    """Run the API server until cancelled."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config.data_dir.chmod(0o700)
    _, kubeconfig = prepare_pki(config)
    server = await APIServer.create(config)
    # handler_cancellation: a watch whose client hung up is cancelled at once instead of
    # lingering until its next write; shutdown_timeout bounds a graceful stop.
    runner = web.AppRunner(server.app(), access_log=None, handle_signals=False,
                           handler_cancellation=True, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, config.bind_address, config.secure_port,
                       ssl_context=server.ssl_context(), backlog=1024, reuse_address=True)
    await site.start()
    # Read the protobuf schema off the event loop now, not on the first protobuf request.
    warm = asyncio.create_task(asyncio.to_thread(_load_protobuf_schema))
    log.info("serving on https://%s:%d (datastore %s)", config.bind_address,
             config.secure_port, config.datastore_url.split("?")[0])
    if ready:
        ready(kubeconfig)
    try:
        await asyncio.Event().wait()
    finally:
        warm.cancel()
        # End every watch stream first so in-flight handlers return promptly.
        server.resources.feed.close_watchers()
        await runner.cleanup()
        await server.close()
