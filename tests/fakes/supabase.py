"""A PostgREST + Storage protocol double for supabase-py, in front of a real PostgreSQL.

RPC calls run on the database the way PostgREST runs them (reference/supabase.md §3.4–3.5, §5): named
JSON arguments bound through `json_to_record`, one transaction per call, as the role of the key (so the
migration's grants are really exercised), read-only for STABLE functions, results shaped as PostgREST
shapes them (a SETOF is an array, anything else the value, void is 204), and SQLSTATEs mapped to
PostgREST's HTTP statuses. Each call is a single statement in its own transaction on a connection that
already has the role, the access mode and the statement timeout (one pool per role and mode), so it
costs one round trip to the database, not the five of BEGIN, SET LOCAL ×2, the call and COMMIT.

Storage keeps objects on disk and enforces the bucket's size limit and MIME types from `storage.buckets`
(§6), with Storage's "HTTP 400 with the logical status in the body" errors, signed URLs and serving them.

It listens on HTTPS (a throwaway self-signed certificate, made once per process for every double), as a
hosted project does, so signed links are `https://` like the real ones; `client_ssl_context` is what a
client must trust. `tls=False` serves plain HTTP (as a local `supabase start` does) for code that cannot
be handed that context.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import hmac
import ipaddress
import json
import shutil
import ssl
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SERVICE_ROLE = "service_role"


@dataclass(frozen=True, slots=True)
class _Function:
    arg_names: tuple[str, ...]
    arg_types: tuple[str, ...]
    returns_set: bool
    returns_void: bool
    volatile: bool


class PostgrestError(Exception):
    def __init__(self, status: int, code: str, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def _http_status(sqlstate: str) -> int:
    """PostgREST's SQLSTATE → HTTP mapping (reference/supabase.md §5.4), the subset a bot can meet."""
    if sqlstate == "P0001":
        return 400
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])
    if sqlstate in ("23505", "23503"):
        return 409
    if sqlstate == "25006":
        return 405
    if sqlstate == "42501":
        return 403
    if sqlstate in ("42883", "42P01"):
        return 404
    if sqlstate.startswith("53"):
        return 503
    if sqlstate.startswith(("08", "22", "23")):
        return 400
    return 500


async def _reset(conn: asyncpg.Connection) -> None:
    """What a pooled RPC connection needs between requests: its settings are the pool's, calls are single
    statements and no function takes session-level locks, so only a transaction left open (a cancelled
    request) is undone, instead of asyncpg's default reset query, a round trip per request."""
    if conn.is_in_transaction():
        await conn.execute("rollback")


def _self_signed() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@functools.cache
def _tls() -> tuple[ssl.SSLContext, str]:
    """The server context and the PEM certificate every double of this process serves: generating and
    loading a key and certificate for each test's double would cost more than the rest of its start. (Each
    double still hands out its own client context, cheap to make, as clients change theirs, e.g. ALPN.)"""
    cert, key = _self_signed()
    folder = Path(tempfile.mkdtemp(prefix="fake-supabase-tls-"))
    try:
        (folder / "cert.pem").write_bytes(cert)
        (folder / "key.pem").write_bytes(key)
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(folder / "cert.pem", folder / "key.pem")  # read now, not kept
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return server_ctx, cert.decode()


def _storage_error(status: str, error: str, code: str, message: str) -> web.Response:
    """Storage answers HTTP 400 with the logical status in the body (reference/supabase.md §6)."""
    body = {"statusCode": status, "error": error, "code": code, "message": message}
    return web.json_response(body, status=400)


def _not_found() -> web.Response:
    return _storage_error("404", "not_found", "NoSuchKey", "Object not found")


class FakeSupabase:
    """`url` is the project URL to hand to supabase-py; `service_key` the only key allowed to write."""

    def __init__(
        self, dsn: str, *, service_key: str, anon_key: str, storage_root: Path, tls: bool = True
    ) -> None:
        self._dsn = dsn
        self._tls = tls
        self.service_key = service_key
        self.anon_key = anon_key
        self._root = storage_root
        self._pool: asyncpg.Pool | None = None
        #: RPC connections by (role, read-only), made on first use
        self._rpc_pools: dict[tuple[str, bool], asyncpg.Pool] = {}
        self._rpc_pools_made = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self._functions: dict[str, _Function | None] = {}
        self._objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._sign_key = uuid.uuid4().bytes
        self.url = ""
        self.client_ssl_context: ssl.SSLContext | None = None
        #: (method, path) of every request, for tests that check what went over the wire
        self.requests: list[tuple[str, str]] = []

    async def start(self) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=10)
        server_ctx, cert = _tls()
        self.client_ssl_context = ssl.create_default_context(cadata=cert)

        app = web.Application(client_max_size=1024**3)
        app.router.add_post("/rest/v1/rpc/{fn}", self._rpc)
        app.router.add_get("/storage/v1/object/info/{bucket}/{path:.+}", self._info)
        app.router.add_get("/storage/v1/object/info/authenticated/{bucket}/{path:.+}", self._info)
        app.router.add_post("/storage/v1/object/sign/{bucket}/{path:.+}", self._sign)
        app.router.add_get("/storage/v1/object/sign/{bucket}/{path:.+}", self._serve_signed)
        app.router.add_get("/storage/v1/object/authenticated/{bucket}/{path:.+}", self._download)
        app.router.add_post("/storage/v1/object/{bucket}/{path:.+}", self._upload)
        app.router.add_put("/storage/v1/object/{bucket}/{path:.+}", self._upload)
        app.router.add_get("/storage/v1/object/{bucket}/{path:.+}", self._download)
        app.router.add_delete("/storage/v1/object/{bucket}", self._remove)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=server_ctx if self._tls else None)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"{'https' if self._tls else 'http'}://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        for pool in self._rpc_pools.values():
            await pool.close()
        if self._pool is not None:
            await self._pool.close()

    async def _rpc_pool(self, role: str, readonly: bool) -> asyncpg.Pool:
        """Connections acting as `role` in `readonly` transactions, like PostgREST's per-request
        `set local role` and access mode, with PostgREST's default pool size of 10."""
        key = (role, readonly)
        if key not in self._rpc_pools:
            async with self._rpc_pools_made:
                if key not in self._rpc_pools:
                    settings = {
                        "role": role,
                        "default_transaction_read_only": "on" if readonly else "off",
                        "statement_timeout": "30s",
                    }
                    self._rpc_pools[key] = await asyncpg.create_pool(
                        self._dsn, min_size=1, max_size=10, reset=_reset, server_settings=settings
                    )
        return self._rpc_pools[key]

    # auth

    def _role(self, request: web.Request, *, required: bool = True) -> str | None:
        """The database role of the request's key, as Supabase's gateway and PostgREST derive it."""
        apikey = request.headers.get("apikey")
        bearer = request.headers.get("Authorization", "")
        token = bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else None
        for key, role in ((self.service_key, SERVICE_ROLE), (self.anon_key, "anon")):
            if apikey is not None and hmac.compare_digest(apikey, key):
                if token is not None and not hmac.compare_digest(token, key):
                    return None
                return role
        return None if required else "anon"

    @staticmethod
    def _unauthorized() -> web.Response:
        return web.json_response({"message": "Invalid API key"}, status=401)

    # PostgREST RPC

    async def _function(self, name: str) -> _Function | None:
        """The function's signature from the catalog, cached as PostgREST's schema cache is."""
        if name not in self._functions:
            assert self._pool is not None
            rows = await self._pool.fetch(
                """select p.proargnames, p.proargmodes::text[] as proargmodes, p.proretset,
                          p.provolatile::text as provolatile,
                          p.prorettype = 'pg_catalog.void'::pg_catalog.regtype as void,
                          array(select pg_catalog.format_type(t, null)
                                from pg_catalog.unnest(p.proargtypes) as t) as in_types
                   from pg_catalog.pg_proc p
                   where p.pronamespace = 'public'::pg_catalog.regnamespace and p.proname = $1""",
                name,
            )
            if len(rows) != 1:
                self._functions[name] = None
            else:
                row = rows[0]
                names = list(row["proargnames"] or [])
                modes = list(row["proargmodes"] or ["i"] * len(names))
                in_names = [n for n, m in zip(names, modes, strict=True) if m in ("i", "b", "v")]
                self._functions[name] = _Function(
                    arg_names=tuple(in_names),
                    arg_types=tuple(row["in_types"]),
                    returns_set=row["proretset"],
                    returns_void=row["void"],
                    volatile=row["provolatile"] == "v",
                )
        return self._functions[name]

    async def _rpc(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        role = self._role(request)
        if role is None:
            return self._unauthorized()
        name = request.match_info["fn"]
        try:
            body = await request.json() if request.can_read_body else {}
        except json.JSONDecodeError:
            return self._pgrst_error(PostgrestError(400, "PGRST102", "Empty or invalid json"))
        if not isinstance(body, dict):
            return self._pgrst_error(PostgrestError(400, "PGRST102", "Expected a JSON object"))
        try:
            function = await self._function(name)
            if function is None or not set(body) <= set(function.arg_names):
                raise PostgrestError(
                    404,
                    "PGRST202",
                    f"Could not find the function public.{name}({', '.join(sorted(body))}) in the "
                    "schema cache",
                )
            pool = await self._rpc_pool(role, readonly=not function.volatile)
            result = await pool.fetchval(self._rpc_sql(name, function, tuple(body)), json.dumps(body))
        except PostgrestError as error:
            return self._pgrst_error(error)
        except asyncpg.PostgresError as error:
            state = error.sqlstate or "XX000"
            return self._pgrst_error(
                PostgrestError(_http_status(state), state, error.message, getattr(error, "detail", None))
            )
        if function.returns_void:
            return web.Response(status=204)
        return web.Response(
            status=200,
            text=result if result is not None else "null",
            content_type="application/json",
        )

    @staticmethod
    @functools.lru_cache(maxsize=1024)
    def _rpc_sql(name: str, function: _Function, given: tuple[str, ...]) -> str:
        """`select <json of result> from json_to_record($1) as _a(args), lateral fn(a => _a.a)`."""
        types = dict(zip(function.arg_names, function.arg_types, strict=True))
        columns = ", ".join(f'"{arg}" {types[arg]}' for arg in given)
        call_args = ", ".join(f'"{arg}" => _a."{arg}"' for arg in given)
        source = f"pg_catalog.json_to_record($1::json) as _a({columns})" if given else "(select $1::json) _a"
        call = f'public."{name}"({call_args})'
        if function.returns_set:
            return f"select coalesce(pg_catalog.json_agg(_r), '[]')::text from {source}, lateral {call} as _r"
        return f"select pg_catalog.to_json({call})::text from {source}"

    @staticmethod
    def _pgrst_error(error: PostgrestError) -> web.Response:
        body = {"code": error.code, "message": error.message, "details": error.details, "hint": None}
        return web.json_response(
            body, status=error.status, headers={"Proxy-Status": f"PostgREST; error={error.code}"}
        )

    # Storage

    def _file(self, bucket: str, path: str) -> Path:
        if any(part in ("", ".", "..") for part in path.split("/")):
            raise web.HTTPBadRequest(text="bad object key")
        return self._root / bucket / path

    async def _bucket(self, bucket: str) -> asyncpg.Record | None:
        assert self._pool is not None
        return await self._pool.fetchrow(
            "select id, public, file_size_limit, allowed_mime_types from storage.buckets where id = $1",
            bucket,
        )

    async def _upload(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        if self._role(request) != SERVICE_ROLE:
            return _storage_error(
                "403", "Unauthorized", "AccessDenied", "new row violates row-level security"
            )
        bucket, path = request.match_info["bucket"], request.match_info["path"]
        config = await self._bucket(bucket)
        if config is None:
            return _storage_error("404", "Bucket not found", "NoSuchBucket", "Bucket not found")
        target = self._file(bucket, path)
        upsert = request.method == "PUT" or request.headers.get("x-upsert") == "true"
        if not upsert and (bucket, path) in self._objects:
            return _storage_error("409", "Duplicate", "KeyAlreadyExists", "The resource already exists")
        limit = config["file_size_limit"]
        reader = await request.multipart()
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.upload")
        target.parent.mkdir(parents=True, exist_ok=True)
        size, mimetype, cache_control = 0, None, None
        try:
            while (part := await reader.next()) is not None:
                if part.name == "cacheControl":
                    cache_control = await part.text()  # type: ignore[union-attr]
                elif part.name == "file":
                    mimetype = part.headers.get("Content-Type", "text/plain;charset=UTF-8")
                    if not _mime_allowed(mimetype, config["allowed_mime_types"]):
                        return _storage_error(
                            "415",
                            "invalid_mime_type",
                            "InvalidMimeType",
                            f"mime type {mimetype} is not supported",
                        )
                    with temp.open("wb") as out:
                        while chunk := await part.read_chunk(1 << 16):  # type: ignore[union-attr]
                            size += len(chunk)
                            if limit is not None and size > limit:
                                return _storage_error(
                                    "413",
                                    "Payload too large",
                                    "EntityTooLarge",
                                    "The object exceeded the maximum allowed size",
                                )
                            out.write(chunk)
                else:
                    await part.release()
            if mimetype is None:
                return _storage_error("400", "InvalidRequest", "InvalidRequest", "No file in the request")
            temp.replace(target)
        finally:
            temp.unlink(missing_ok=True)
        object_id = str(uuid.uuid4())
        now = dt.datetime.now(dt.UTC).isoformat()
        self._objects[(bucket, path)] = {
            "id": object_id,
            "size": size,
            "mimetype": mimetype,
            "cache_control": f"max-age={cache_control or 3600}",
            "created_at": now,
        }
        return web.json_response({"Id": object_id, "Key": f"{bucket}/{path}"})

    async def _info(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        if self._role(request) != SERVICE_ROLE:
            return _not_found()  # RLS hides the object from anyone else
        bucket, path = request.match_info["bucket"], request.match_info["path"]
        meta = self._objects.get((bucket, path))
        if meta is None:
            return _not_found()
        return web.json_response(
            {
                "id": meta["id"],
                "name": path,
                "bucket_id": bucket,
                "size": meta["size"],
                "content_type": meta["mimetype"],
                "cache_control": meta["cache_control"],
                "created_at": meta["created_at"],
                "last_modified": meta["created_at"],
                "metadata": {},
            }
        )

    async def _stream(self, request: web.Request, bucket: str, path: str) -> web.StreamResponse:
        meta = self._objects.get((bucket, path))
        if meta is None:
            return _not_found()
        response = web.StreamResponse(
            headers={"Content-Type": meta["mimetype"], "Content-Length": str(meta["size"])}
        )
        await response.prepare(request)
        with self._file(bucket, path).open("rb") as src:
            while chunk := src.read(1 << 16):
                await response.write(chunk)
        await response.write_eof()
        return response

    async def _download(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if self._role(request) != SERVICE_ROLE:
            return _not_found()
        return await self._stream(request, request.match_info["bucket"], request.match_info["path"])

    async def _remove(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        if self._role(request) != SERVICE_ROLE:
            return web.json_response([])
        bucket = request.match_info["bucket"]
        prefixes = (await request.json()).get("prefixes") or []
        if not prefixes:
            return _storage_error("400", "InvalidRequest", "InvalidRequest", "prefixes must not be empty")
        deleted = []
        for path in prefixes:
            meta = self._objects.pop((bucket, path), None)
            if meta is not None:
                self._file(bucket, path).unlink(missing_ok=True)
                deleted.append({"name": path, "bucket_id": bucket, "id": meta["id"]})
        return web.json_response(deleted)

    def _token(self, bucket: str, path: str, expires: int) -> str:
        mac = hmac.new(self._sign_key, f"{bucket}/{path}\n{expires}".encode(), hashlib.sha256).hexdigest()
        return f"{expires}.{mac}"

    async def _sign(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        if self._role(request) != SERVICE_ROLE:
            return _not_found()
        bucket, path = request.match_info["bucket"], request.match_info["path"]
        if (bucket, path) not in self._objects:
            return _not_found()
        expires_in = int((await request.json())["expiresIn"])  # storage3 sends a string
        if expires_in < 1:
            return _storage_error("400", "InvalidRequest", "InvalidRequest", "expiresIn must be >= 1")
        token = self._token(bucket, path, int(time.time()) + expires_in)
        return web.json_response({"signedURL": f"/object/sign/{bucket}/{quote(path)}?token={token}"})

    async def _serve_signed(self, request: web.Request) -> web.StreamResponse:
        """A signed link needs no key: only the token, unexpired and made for this object."""
        self.requests.append((request.method, request.path))
        bucket, path = request.match_info["bucket"], request.match_info["path"]
        expires_text, _, mac = request.query.get("token", "").partition(".")
        if not expires_text.isdigit() or not hmac.compare_digest(
            f"{expires_text}.{mac}", self._token(bucket, path, int(expires_text))
        ):
            return _storage_error("400", "InvalidSignature", "InvalidSignature", "Invalid signature")
        if int(expires_text) < time.time():
            return _storage_error("400", "InvalidJWT", "InvalidJWT", "jwt expired")
        return await self._stream(request, bucket, path)


def _mime_allowed(mimetype: str, allowed: list[str] | None) -> bool:
    if not allowed:
        return True
    base = mimetype.split(";")[0].strip().lower()
    return any(base == a or (a.endswith("/*") and base.startswith(a[:-1])) for a in allowed)
