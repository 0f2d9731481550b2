#!/usr/bin/env python3
"""The load harness: Gatehouse against panva's oidc-provider and a bare axum ceiling, in one run.

    python3 benches/run.py                 # full run: 10 s per figure, median of 3, warm-up first
    python3 benches/run.py --smoke         # 2 s, one run: proves the harness works end to end
    python3 benches/run.py --postgres      # Gatehouse on PostgreSQL (127.0.0.1:5432, user postgres)

What it does, in order (see BENCHMARKS.md for what each figure means):
  1. installs what is missing: wrk (Debian), oidc-provider (npm ci, pinned by package-lock.json);
  2. builds Gatehouse in release and the bench programs (benches/*.rs) with `cargo bench --no-run`;
  3. measures the raw signing rate (benches/signing_rate.rs);
  4. loads the ceiling (benches/hello.rs), then the peer (benches/peer/server.mjs), then Gatehouse
     (realm files in benches/realms/) with wrk at 16 connections: discovery, JWKS, the token
     endpoint (client_credentials; refresh_token), userinfo, introspection; sign-ins per second
     with benches/signin_load.rs, with real argon2 parameters and again with cheap ones; the
     token endpoint during 200 concurrent wrong-password sign-ins; sign-in and refresh latency
     with 1,000 and with --scale-users (1,000,000) seeded users and sessions;
  5. prints the table and writes it, with the machine and the date, into BENCHMARKS.md.

Only the Python standard library; every server listens on loopback and is stopped by its pid.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import http.client
import json
import urllib.request
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ROOT / "benches"
WORK = ROOT / "target" / "bench-run"  # scratch: databases, keys, token files, logs
RESULTS = BENCHES / "results"

GH_PORT, PEER_PORT, HELLO_PORT = 18090, 18091, 18092
CONNECTIONS, THREADS = 16, 2
PASSWORD = "Bench-Password-2024"
USERS = 16  # one per connection, so concurrent sign-ins never share a user
STORM_USERS = 200  # concurrent wrong-password sign-ins while the token endpoint is measured

# The public bench secrets written (hashed) in benches/realms/*.yaml and benches/peer/server.mjs.
SERVICE = ("bench-service", "bench-service-secret-0123456789-abcdefgh")
WEB = ("bench-web", "bench-web-secret-0123456789-abcdefghijk")

# Cheap argon2 for the comparison run: the sign-in without the cost of the password hash.
# The load comes from one address, as through a proxy: no per-address sign-in budget.
BENCH_CONFIG = "sign_ins_per_address_per_minute: 0\n"
CHEAP_CONFIG = BENCH_CONFIG + "password_hashing: { memory_kib: 64, iterations: 1, parallelism: 1 }\n"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def basic(client: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()


# ---------------------------------------------------------------------------------------------
# Tools and builds


def ensure_wrk() -> None:
    """wrk from Debian's packages, installed the way scripts/install-test-deps.sh installs chromium."""
    if shutil.which("wrk"):
        return
    log("wrk is missing: installing Debian's package")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"], check=True, env=env)


def ensure_peer() -> str:
    """oidc-provider exactly as package-lock.json pins it; returns its version."""
    if not (BENCHES / "node_modules" / "oidc-provider").exists():
        log("installing oidc-provider (npm ci)")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCHES, check=True)
    pkg = json.loads((BENCHES / "node_modules" / "oidc-provider" / "package.json").read_text())
    return pkg["version"]


def build() -> dict[str, Path]:
    """Gatehouse in release, and the bench programs; returns the bench executables by name."""
    log("building gatehouse (release)")
    subprocess.run(["cargo", "build", "--release", "--bin", "gatehouse"], cwd=ROOT, check=True)
    log("building bench programs (cargo bench --no-run)")
    names = ["hello", "signing_rate", "signin_load"]
    cmd = ["cargo", "bench", "--no-run", "--message-format=json"]
    for n in names:
        cmd += ["--bench", n]
    out = subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    exes = {}
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
            if msg["target"]["name"] in names:
                exes[msg["target"]["name"]] = Path(msg["executable"])
    missing = set(names) - set(exes)
    if missing:
        sys.exit(f"bench programs not built: {missing}")
    exes["gatehouse"] = ROOT / "target" / "release" / "gatehouse"
    return exes


# ---------------------------------------------------------------------------------------------
# Processes: start, wait until they answer, memory


class Server:
    def __init__(self, name: str, cmd: list[str], probe: str, port: int, env: dict | None = None):
        self.name, self.probe, self.port = name, probe, port
        logf = open(WORK / f"{name}.log", "ab")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=logf, stderr=logf, env=dict(os.environ, **(env or {})))
        self.cold_start_ms = self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> float:
        """Polls `probe` every millisecond; the time from spawn to the first 200."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"{self.name} exited with {self.proc.returncode}; see {WORK / (self.name + '.log')}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", self.probe)
                if c.getresponse().status == 200:
                    return (time.perf_counter() - self.started) * 1000
            except OSError:
                pass
            time.sleep(0.001)
        self.stop()
        sys.exit(f"{self.name} did not answer {self.probe} within {timeout} s")

    def status(self, field: str) -> float:
        """A /proc/PID/status memory field (VmRSS, VmHWM) in MiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def reset_peak(self) -> None:
        """Resets VmHWM (the peak RSS) so the next reading is the peak of what follows."""
        try:
            Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        except OSError as e:
            log(f"cannot reset the peak RSS of {self.name}: {e} (peak includes start-up)")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def get(port: int, path: str) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read()


# ---------------------------------------------------------------------------------------------
# Load


class Load:
    """Runs each figure as: warm-up, then `runs` timed runs; reports the median of each figure."""

    def __init__(self, duration: float, runs: int, warmup: float):
        self.duration, self.runs, self.warmup = duration, runs, warmup

    def wrk_once(self, url: str, seconds: float, env: dict) -> dict:
        cmd = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency",
               "-s", str(BENCHES / "wrk" / "report.lua"), url]
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, BENCH_THREADS=str(THREADS), **env)).stdout
        line = next((l for l in out.splitlines() if l.startswith("BENCH_JSON ")), None)
        if line is None:
            sys.exit(f"wrk printed no result for {url}:\n{out}")
        r = json.loads(line[len("BENCH_JSON "):])
        errors = sum(v for k, v in r.items() if k.startswith("errors_"))
        return {"rps": r["requests"] / (r["duration_us"] / 1e6), "p50_ms": r["p50_us"] / 1000,
                "p99_ms": r["p99_us"] / 1000, "errors": errors, "requests": r["requests"]}

    def wrk(self, url: str, env: dict | None = None, before_each=None) -> dict:
        """`before_each()` returns extra environment for one wrk run (fresh refresh tokens)."""
        env = env or {}
        extra = before_each() if before_each else {}
        if self.warmup > 0:
            self.wrk_once(url, self.warmup, {**env, **extra})
        results = []
        for _ in range(self.runs):
            extra = before_each() if before_each else {}
            results.append(self.wrk_once(url, self.duration, {**env, **extra}))
        return median_of(results)


def median_of(results: list[dict]) -> dict:
    """The median of each figure; errors are summed over the runs (any error is worth seeing)."""
    out = {k: statistics.median(r[k] for r in results) for k in ("rps", "p50_ms", "p99_ms")}
    out["errors"] = sum(r["errors"] for r in results)
    out["runs"] = len(results)
    return out


# ---------------------------------------------------------------------------------------------
# The three servers


def run_ceiling(exes, load: Load) -> dict:
    log("ceiling: bare axum hello-world")
    s = Server("hello", [str(exes["hello"]), f"127.0.0.1:{HELLO_PORT}"], "/", HELLO_PORT)
    try:
        idle = s.status("VmRSS")
        s.reset_peak()
        hello = load.wrk(f"http://127.0.0.1:{HELLO_PORT}/")
        return {"hello": hello, "idle_rss_mib": idle, "peak_rss_mib": s.status("VmHWM")}
    finally:
        s.stop()


def run_peer(load: Load) -> dict:
    log("peer: oidc-provider")
    cmd = ["node", str(BENCHES / "peer" / "server.mjs"), str(PEER_PORT)]
    env = {"NODE_ENV": "production"}
    s = Server("peer", cmd, "/.well-known/openid-configuration", PEER_PORT, env)
    out = {"cold_start_ms": s.cold_start_ms}
    try:
        time.sleep(1)  # let start-up garbage settle before reading the idle figure
        out["idle_rss_mib"] = s.status("VmRSS")
        s.reset_peak()
        base = f"http://127.0.0.1:{PEER_PORT}"
        out["discovery"] = load.wrk(f"{base}/.well-known/openid-configuration")
        out["jwks"] = load.wrk(f"{base}/jwks")
        out["cc_RS256"] = load.wrk(f"{base}/token", {"BENCH_METHOD": "POST", "BENCH_AUTH": basic(SERVICE),
                                                    "BENCH_BODY": "grant_type=client_credentials"})
        out["peak_rss_mib"] = s.status("VmHWM")
    finally:
        s.stop()
    return out


class Gatehouse:
    """Command lines for one Gatehouse instance (database, master key, the bench realms)."""

    def __init__(self, exes, database_url: str):
        self.exe, self.loadgen = str(exes["gatehouse"]), str(exes["signin_load"])
        self.common = ["--database-url", database_url, "--realms-dir", str(BENCHES / "realms"),
                       "--master-key-file", str(WORK / "master.key")]
        self.base = f"http://127.0.0.1:{GH_PORT}"

    def start(self, name: str, config: Path | None = None) -> Server:
        cmd = [self.exe, "serve", "--listen", f"127.0.0.1:{GH_PORT}", *self.common]
        if config:
            cmd += ["--config", str(config)]
        # warn, not the default info: one log line per request is a cost oidc-provider does not pay.
        return Server(name, cmd, "/realms/bench/.well-known/openid-configuration", GH_PORT,
                      {"GATEHOUSE_LOG": "warn"})

    def add_users(self, prefix: str, config: Path | None = None, realm: str = "bench") -> None:
        extra = ["--config", str(config)] if config else []
        for i in range(USERS):
            subprocess.run([self.exe, "user", "add", realm, f"{prefix}{i:02}", "--password-stdin", *self.common,
                            *extra], input=PASSWORD + "\n", text=True, check=True, cwd=ROOT,
                           stdout=subprocess.DEVNULL, env=dict(os.environ, GATEHOUSE_LOG="warn"))

    def seed(self, users: int, config: Path | None = None) -> float:
        """`gatehouse seed`: `users` users in realm bench (seed-0000000 …), each with a live SSO
        session; returns the seconds it took."""
        extra = ["--config", str(config)] if config else []
        # A fresh database serves no realm until one is applied (as `serve` would at start).
        subprocess.run([self.exe, "realm", "apply", *self.common, *extra], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL, env=dict(os.environ, GATEHOUSE_LOG="warn"))
        t = time.perf_counter()
        subprocess.run([self.exe, "seed", "bench", "--users", str(users), "--sessions", str(users), *self.common,
                        *extra], input=PASSWORD + "\n", text=True, check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL, env=dict(os.environ, GATEHOUSE_LOG="warn"))
        return time.perf_counter() - t

    def users_args(self, prefix: str, users: int, digits: int, realm: str = "bench") -> list[str]:
        return ["--base", self.base, "--realm", realm, "--user-prefix", prefix, "--users", str(users),
                "--user-digits", str(digits), "--password", PASSWORD]

    def tokens(self, prefix: str, count: int, users: int = USERS, digits: int = 2,
               scope: str = "openid") -> list[dict]:
        out = subprocess.run([self.loadgen, "tokens", *self.users_args(prefix, users, digits), "--count", str(count),
                              "--scope", scope], check=True, stdout=subprocess.PIPE, text=True).stdout
        return json.loads(out)

    def personal_access_token(self, prefix: str) -> str:
        """A personal access token (openid profile email) of a user, made through the account API
        with a fresh manage-account token."""
        manage = self.tokens(prefix, 1, scope="openid profile email manage-account")[0]["access_token"]
        body = json.dumps({"name": "bench", "days": 30, "scopes": ["openid", "profile", "email"]}).encode()
        req = urllib.request.Request(f"{self.base}/realms/bench/account/tokens", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {manage}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req) as resp:
            return json.loads(resp.read())["secret"]

    def sign_ins(self, prefix: str, load: Load, users: int = USERS, digits: int = 2) -> dict:
        results = []
        for run in range(load.runs):
            out = subprocess.run([self.loadgen, "signin", *self.users_args(prefix, users, digits),
                                  "--concurrency", str(CONNECTIONS), "--seconds", str(load.duration),
                                  "--warmup", str(load.warmup if run == 0 else 0)],
                                 check=True, stdout=subprocess.PIPE, text=True).stdout
            results.append(signin_result(out))
        return median_of(results)

    def storm(self, seconds: float) -> subprocess.Popen:
        """STORM_USERS virtual users posting wrong passwords to realm bench-storm's login form,
        in the background for `seconds` (after a 1 s warm-up); read it with `signin_result`."""
        return subprocess.Popen([self.loadgen, "signin", *self.users_args("storm-user-", USERS, 2, "bench-storm"),
                                 "--wrong-password", "--concurrency", str(STORM_USERS), "--seconds", str(seconds),
                                 "--warmup", "1"], stdout=subprocess.PIPE, text=True)


def signin_result(out: str) -> dict:
    """One `signin_load signin` result as a figure; lockouts count as errors (they skip argon2)."""
    r = json.loads(out)
    if r.get("first_error"):
        log(f"sign-in errors ({r['errors']}), first: {r['first_error']}")
    if r.get("locked"):
        log(f"{r['locked']} attempts were answered with a lockout, not a password check")
    return {"rps": r["per_sec"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
            "errors": r["errors"] + r.get("locked", 0)}


def fresh_database(name: str, postgres: bool) -> str:
    """The URL of an empty database: a new PostgreSQL database, or a new SQLite file in WORK."""
    if not postgres:
        return f"sqlite://{WORK / (name + '.db')}"
    for sql in (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"):
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-qc", sql], check=True)
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def run_gatehouse(exes, load: Load, postgres: bool, scale_users: int) -> dict:
    gh = Gatehouse(exes, fresh_database("gatehouse_bench", postgres))
    out = {"database": "PostgreSQL" if postgres else "SQLite"}

    # Cold start on an empty database: migrations, realm apply and the first signing keys.
    log("gatehouse: first start on an empty database")
    s = gh.start("gatehouse-first")
    out["cold_start_empty_ms"] = s.cold_start_ms
    s.stop()
    log(f"gatehouse: creating {USERS} users (real argon2), and {USERS} in realm bench-storm")
    gh.add_users("bench-user-")
    gh.add_users("storm-user-", realm="bench-storm")

    log("gatehouse: restart on the existing database")
    config = WORK / "bench.yaml"
    config.write_text(BENCH_CONFIG)
    s = gh.start("gatehouse", config)
    out["cold_start_restart_ms"] = s.cold_start_ms
    try:
        time.sleep(1)
        out["idle_rss_mib"] = s.status("VmRSS")
        s.reset_peak()
        realm = f"{gh.base}/realms/bench"
        oidc = f"{realm}/protocol/openid-connect"
        out["discovery"] = load.wrk(f"{realm}/.well-known/openid-configuration")
        out["jwks"] = load.wrk(f"{oidc}/certs")
        cc = {"BENCH_METHOD": "POST", "BENCH_AUTH": basic(SERVICE), "BENCH_BODY": "grant_type=client_credentials"}
        for alg, name in (("RS256", "bench"), ("ES256", "bench-es256"), ("EdDSA", "bench-eddsa")):
            out[f"cc_{alg}"] = load.wrk(f"{gh.base}/realms/{name}/protocol/openid-connect/token", cc)

        # Tokens of real sign-ins for userinfo, introspection and refresh, all fetched now, so
        # that the peak RSS of the endpoint loads is theirs, not that of argon2 (the sign-ins
        # have a figure of their own below).
        peak_before_sign_ins = s.status("VmHWM")
        access = gh.tokens("bench-user-", 1)[0]["access_token"]
        pat = gh.personal_access_token("bench-user-")
        # Each refresh run starts from new token families: 1.5 per connection, so no pool runs dry.
        pools = [gh.tokens("bench-user-", CONNECTIONS * 3 // 2) for _ in range(load.runs + 1)]
        s.reset_peak()
        out["userinfo"] = load.wrk(f"{oidc}/userinfo", {"BENCH_AUTH": f"Bearer {access}"})
        out["userinfo_pat"] = load.wrk(f"{oidc}/userinfo", {"BENCH_AUTH": f"Bearer {pat}"})
        out["account_sessions"] = load.wrk(f"{realm}/account/sessions", {"BENCH_AUTH": f"Bearer {access}"})
        out["introspection"] = load.wrk(f"{oidc}/token/introspect", {
            "BENCH_METHOD": "POST", "BENCH_AUTH": basic(WEB), "BENCH_BODY": f"token={access}"})

        def fresh_refresh_tokens() -> dict:
            path = WORK / "refresh-tokens.txt"
            path.write_text("".join(t["refresh_token"] + "\n" for t in pools.pop()))
            return {"BENCH_REFRESH_TOKENS": str(path)}

        out["refresh"] = load.wrk(f"{oidc}/token", {"BENCH_METHOD": "POST", "BENCH_AUTH": basic(WEB)},
                                  before_each=fresh_refresh_tokens)
        out["peak_rss_mib"] = max(peak_before_sign_ins, s.status("VmHWM"))

        log("gatehouse: sign-ins, real argon2 (19 MiB, 2 iterations)")
        s.reset_peak()
        out["signin_argon2"] = gh.sign_ins("bench-user-", load)
        out["peak_rss_signin_mib"] = s.status("VmHWM")

        log(f"gatehouse: token endpoint (RS256) during {STORM_USERS} concurrent wrong-password sign-ins")
        s.reset_peak()
        out["storm"] = token_under_storm(gh, load, f"{oidc}/token", cc)
        out["peak_rss_storm_mib"] = s.status("VmHWM")
    finally:
        s.stop()

    # The same sign-in with a cheap hash: what the flow costs apart from argon2.
    log("gatehouse: sign-ins, cheap hash (64 KiB, 1 iteration)")
    cheap = WORK / "cheap-hash.yaml"
    cheap.write_text(CHEAP_CONFIG)
    gh.add_users("cheap-user-", cheap)
    s = gh.start("gatehouse-cheap", cheap)
    try:
        out["signin_cheap"] = gh.sign_ins("cheap-user-", load)
    finally:
        s.stop()
    if scale_users:
        out["scale"] = run_scale(exes, load, postgres, cheap, scale_users)
    return out


def metric(port: int, name: str) -> float:
    """One unlabelled gauge from Gatehouse's /metrics."""
    status, body = get(port, "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    sys.exit(f"/metrics has no {name} (status {status})")


def token_under_storm(gh: Gatehouse, load: Load, url: str, env: dict) -> dict:
    """Each run: start the storm, wait until its attempts fill the argon2 queue, then one timed
    wrk run on the token endpoint while the storm goes on; the storm's own figures come along."""
    tokens, storms, depths = [], [], []
    for _ in range(load.runs):
        storm = gh.storm(load.duration + 3)
        deadline = time.perf_counter() + 30
        while metric(GH_PORT, "gatehouse_argon2_queue_depth") < STORM_USERS // 2:
            if time.perf_counter() > deadline or storm.poll() is not None:
                storm.kill()
                sys.exit("the storm did not fill the argon2 queue within 30 s")
            time.sleep(0.05)
        tokens.append(load.wrk_once(url, load.duration, env))
        depths.append(metric(GH_PORT, "gatehouse_argon2_queue_depth"))
        stdout, _ = storm.communicate()
        if storm.returncode != 0:
            sys.exit(f"the storm load failed with exit code {storm.returncode}")
        storms.append(signin_result(stdout))
    return {"token": median_of(tokens), "attempts": median_of(storms),
            "queue_depth_at_end": statistics.median(depths)}


def run_scale(exes, load: Load, postgres: bool, cheap: Path, users: int) -> dict:
    """Sign-in and refresh-token figures with 1,000 seeded users and sessions, then with `users`
    (each in a database of its own, cheap hash so that the database shows, not argon2)."""
    out = {}
    for label, n in (("small", 1000), ("large", users)):
        url = fresh_database(f"gatehouse_scale_{label}", postgres)
        gh = Gatehouse(exes, url)
        log(f"gatehouse: seeding {n:,} users and {n:,} sessions ({label})")
        seed_s = gh.seed(n, cheap)
        s = gh.start(f"gatehouse-scale-{label}", cheap)
        try:
            r = {"users": n, "seed_s": seed_s}
            r["signin"] = gh.sign_ins("seed-", load, users=n, digits=7)

            def fresh_refresh_tokens() -> dict:
                path = WORK / f"refresh-tokens-{label}.txt"
                tokens = gh.tokens("seed-", CONNECTIONS * 3 // 2, users=n, digits=7)
                path.write_text("".join(t["refresh_token"] + "\n" for t in tokens))
                return {"BENCH_REFRESH_TOKENS": str(path)}

            r["refresh"] = load.wrk(f"{gh.base}/realms/bench/protocol/openid-connect/token",
                                    {"BENCH_METHOD": "POST", "BENCH_AUTH": basic(WEB)},
                                    before_each=fresh_refresh_tokens)
            out[label] = r
        finally:
            s.stop()
    return out


# ---------------------------------------------------------------------------------------------
# Report


def machine() -> dict:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    mem_kib = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
                   if l.startswith("MemTotal"))
    version = lambda cmd: subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True).stdout.splitlines()[0].strip()
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem_kib / 1024 / 1024, 1),
            "kernel": platform.release(), "rustc": version(["rustc", "--version"]),
            "node": version(["node", "--version"]), "wrk": version(["wrk", "-v"]).split(" Copyright")[0],
            "commit": commit, "load_avg_at_start": os.getloadavg()[0]}


def fmt(v, unit="") -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        v = f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"
    return f"{v}{unit}"


def ratio(a, b) -> str:
    return f"{a / b:.2f}" if a is not None and b else "—"


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**not met**")


def render(r: dict) -> str:
    gh, peer, ceil, sign = r["gatehouse"], r.get("peer") or {}, r["ceiling"], r["signing"]
    top = ceil["hello"]["rps"]
    lines = []
    lines.append("| endpoint | Gatehouse req/s | p50 ms | p99 ms | errors | oidc-provider req/s (p99 ms) "
                 "| Gatehouse / peer | Gatehouse / ceiling |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = [("GET discovery", "discovery", "discovery"), ("GET JWKS", "jwks", "jwks"),
            ("POST token, client_credentials, RS256", "cc_RS256", "cc_RS256"),
            ("POST token, client_credentials, ES256", "cc_ES256", None),
            ("POST token, client_credentials, EdDSA", "cc_EdDSA", None),
            ("POST token, refresh_token (RS256)", "refresh", None),
            ("GET userinfo", "userinfo", None), ("POST introspection", "introspection", None),
            ("GET userinfo, personal access token", "userinfo_pat", None),
            ("GET account API sessions (JSON)", "account_sessions", None),
            ("sign-in (authorize → form → code → token), argon2 19 MiB/2", "signin_argon2", None),
            ("sign-in, cheap hash (64 KiB/1)", "signin_cheap", None)]
    for label, key, peer_key in rows:
        g = gh[key]
        p = peer.get(peer_key) if peer_key else None
        ptxt = f"{fmt(p['rps'])} ({fmt(p['p99_ms'])})" if p else "—"
        lines.append(f"| {label} | {fmt(g['rps'])} | {fmt(g['p50_ms'])} | {fmt(g['p99_ms'])} | {g['errors']} "
                     f"| {ptxt} | {ratio(g['rps'], p['rps']) if p else '—'} | {ratio(g['rps'], top)} |")
    lines.append(f"| ceiling: bare axum hello-world | {fmt(top)} | {fmt(ceil['hello']['p50_ms'])} "
                 f"| {fmt(ceil['hello']['p99_ms'])} | {ceil['hello']['errors']} | — | — | 1.00 |")
    lines.append("")
    jwt = gh["userinfo"]["rps"]
    lines.append("| account console API (target: ≥ 0.80 of JWT userinfo) | req/s | / JWT userinfo | target |")
    lines.append("|---|---:|---:|---|")
    for label, key in (("userinfo with a personal access token", "userinfo_pat"),
                       ("account API `GET /sessions`", "account_sessions")):
        rps = gh[key]["rps"]
        lines.append(f"| {label} | {fmt(rps)} | {ratio(rps, jwt)} | {verdict(rps / jwt >= 0.8 if jwt else None)} |")
    lines.append("")
    lines.append("| process | idle RSS MiB | peak RSS MiB (endpoint loads) | peak RSS MiB (sign-ins) "
                 "| cold start, empty DB | cold start, restart |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    lines.append(f"| Gatehouse ({gh['database']}) | {fmt(gh['idle_rss_mib'])} | {fmt(gh['peak_rss_mib'])} "
                 f"| {fmt(gh['peak_rss_signin_mib'])} | {fmt(gh['cold_start_empty_ms'], ' ms')} "
                 f"| {fmt(gh['cold_start_restart_ms'], ' ms')} |")
    if peer:
        lines.append(f"| oidc-provider {r['peer_version']} (in-memory) | {fmt(peer['idle_rss_mib'])} "
                     f"| {fmt(peer['peak_rss_mib'])} | — | {fmt(peer['cold_start_ms'], ' ms')} | — |")
    lines.append(f"| bare axum hello-world | {fmt(ceil['idle_rss_mib'])} | {fmt(ceil['peak_rss_mib'])} | — | — | — |")
    lines.append("")
    lines.append(f"| raw signing rate (Gatehouse's `SigningKey::sign_jwt`) | one core /s | all {sign['cores']} cores /s "
                 "| token endpoint / all-core rate |")
    lines.append("|---|---:|---:|---:|")
    for alg in ("RS256", "ES256", "EdDSA"):
        lines.append(f"| {alg} | {fmt(float(sign[alg]['one_core']))} | {fmt(float(sign[alg]['all_cores']))} "
                     f"| {ratio(gh[f'cc_{alg}']['rps'], sign[alg]['all_cores'])} |")
    storm = gh.get("storm")
    if storm:
        t, a = storm["token"], storm["attempts"]
        lines.append("")
        lines.append(f"| token endpoint (client_credentials, RS256, {CONNECTIONS} connections) | req/s | p50 ms "
                     "| p99 ms | errors |")
        lines.append("|---|---:|---:|---:|---:|")
        c = gh["cc_RS256"]
        lines.append(f"| alone | {fmt(c['rps'])} | {fmt(c['p50_ms'])} | {fmt(c['p99_ms'])} | {c['errors']} |")
        lines.append(f"| during {STORM_USERS} concurrent wrong-password sign-ins (argon2 queue depth "
                     f"{storm['queue_depth_at_end']:.0f} at the end; {fmt(a['rps'])} rejected attempts/s, "
                     f"p50 {fmt(a['p50_ms'])} ms, {a['errors']} errors or lockouts; peak RSS "
                     f"{fmt(gh['peak_rss_storm_mib'])} MiB) | {fmt(t['rps'])} | {fmt(t['p50_ms'])} "
                     f"| {fmt(t['p99_ms'])} | {t['errors']} |")
    scale = gh.get("scale")
    if scale:
        lines.append("")
        lines.append("| users and SSO sessions (seeded; cheap hash) | seeding | sign-ins/s | sign-in p50 ms "
                     "| sign-in p99 ms | refresh req/s | refresh p50 ms | refresh p99 ms | errors |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for label in ("small", "large"):
            x = scale[label]
            si, rf = x["signin"], x["refresh"]
            lines.append(f"| {x['users']:,} | {fmt(x['seed_s'], ' s')} | {fmt(si['rps'])} | {fmt(si['p50_ms'])} "
                         f"| {fmt(si['p99_ms'])} | {fmt(rf['rps'])} | {fmt(rf['p50_ms'])} | {fmt(rf['p99_ms'])} "
                         f"| {si['errors'] + rf['errors']} |")
    lines.append("")
    lines.append("| target | figure | verdict |")
    lines.append("|---|---|---|")
    for t in targets(r):
        lines.append(f"| {t[0]} | {t[1]} | {verdict(t[2])} |")
    return "\n".join(lines)


def targets(r: dict) -> list[tuple[str, str, bool | None]]:
    gh, peer, ceil, sign = r["gatehouse"], r.get("peer") or {}, r["ceiling"], r["signing"]
    top = ceil["hello"]["rps"]
    out = []
    for k, name in (("discovery", "discovery"), ("jwks", "JWKS")):
        share = gh[k]["rps"] / top
        out.append((f"{name} ≥ 60 % of the axum ceiling", f"{share:.0%}", share >= 0.6))
    for alg in ("RS256", "ES256", "EdDSA"):
        share = gh[f"cc_{alg}"]["rps"] / sign[alg]["all_cores"]
        out.append((f"token endpoint {alg} ≥ 90 % of the raw {alg} signing rate", f"{share:.0%}", share >= 0.9))
    pr = peer.get("cc_RS256", {}).get("rps")
    if pr:
        out.append(("token endpoint RS256 ahead of oidc-provider RS256",
                    f"{ratio(gh['cc_RS256']['rps'], pr)}×", gh["cc_RS256"]["rps"] > pr))
        for alg in ("ES256", "EdDSA"):
            x = gh[f"cc_{alg}"]["rps"] / pr
            out.append((f"token endpoint {alg} ≥ 5× oidc-provider's RS256", f"{x:.2f}×", x >= 5))
    out.append(("idle RSS ≤ 25 MB", f"{gh['idle_rss_mib']:.1f} MiB", gh["idle_rss_mib"] * 1.048576 <= 25))
    out.append(("peak RSS under the endpoint loads ≤ 60 MB", f"{gh['peak_rss_mib']:.1f} MiB",
                gh["peak_rss_mib"] * 1.048576 <= 60))
    out.append(("peak RSS during 16 concurrent argon2 sign-ins ≤ 60 MB", f"{gh['peak_rss_signin_mib']:.1f} MiB",
                gh["peak_rss_signin_mib"] * 1.048576 <= 60))
    if "peak_rss_storm_mib" in gh:
        out.append((f"peak RSS during the storm ({STORM_USERS} sign-ins in flight) ≤ 60 MB",
                    f"{gh['peak_rss_storm_mib']:.1f} MiB", gh["peak_rss_storm_mib"] * 1.048576 <= 60))
    out.append(("cold start ≤ 100 ms on an existing database", f"{gh['cold_start_restart_ms']:.0f} ms",
                gh["cold_start_restart_ms"] <= 100))
    out.append(("cold start ≤ 1 s on an empty database", f"{gh['cold_start_empty_ms']:.0f} ms",
                gh["cold_start_empty_ms"] <= 1000))
    storm = gh.get("storm")
    if storm:
        p99 = storm["token"]["p99_ms"]
        out.append((f"token p99 < 50 ms during {STORM_USERS} concurrent wrong-password sign-ins", f"{p99:.1f} ms",
                    p99 < 50))
        bad = storm["token"]["errors"] + storm["attempts"]["errors"]
        out.append(("nothing errors during the storm (token requests and sign-in attempts)", str(bad), bad == 0))
    scale = gh.get("scale")
    if scale:
        small, large = scale["small"], scale["large"]
        for what, key in (("sign-in", "signin"), ("refresh-token", "refresh")):
            for pct in ("p50_ms", "p99_ms"):
                a, b = small[key][pct], large[key][pct]
                out.append((f"{what} {pct[:3]} with {large['users']:,} users within 20 % of 1,000 users",
                            f"{b:.1f} ms vs {a:.1f} ms ({b / a - 1:+.0%})", b <= a * 1.2))
        errors_scale = sum(scale[l][k]["errors"] for l in ("small", "large") for k in ("signin", "refresh"))
    else:
        errors_scale = 0
    errors = sum(gh[k]["errors"] for k in gh if isinstance(gh[k], dict) and "errors" in gh[k]) + errors_scale
    out.append(("no errors under load (all Gatehouse figures)", str(errors), errors == 0))
    return out


def write_benchmarks_md(r: dict, table: str) -> None:
    """Replaces the part of BENCHMARKS.md between the markers; the prose around it stays."""
    path = ROOT / "BENCHMARKS.md"
    begin, end = "<!-- bench:begin (written by benches/run.py) -->", "<!-- bench:end -->"
    m = r["machine"]
    kind = ("**SMOKE RUN** (2 s per figure, 1 run, no statistics; it proves the harness works end to end, "
            "its numbers are indicative only — the load average below shows how busy the machine was; "
            "replace them with a full run)" if r["smoke"] else
            f"full run: {r['duration']:g} s per figure after a {r['warmup']:g} s warm-up, median of {r['runs']} runs")
    body = "\n".join([
        begin,
        f"Latest run: {r['date']} — {kind}.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, Linux {m['kernel']}; "
        f"load average {m['load_avg_at_start']:.2f} at the start. {m['rustc']}; Node {m['node']}; "
        f"oidc-provider {r.get('peer_version', '—')}; {m['wrk']}. Gatehouse at `{m['commit']}` on "
        f"{r['gatehouse']['database']}. Load: wrk, {THREADS} threads, {CONNECTIONS} connections, on the "
        "same machine as the servers.",
        "",
        table,
        end,
    ])
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{begin}\n{end}\n"
    if begin in text and end in text:
        text = text[:text.index(begin)] + body + text[text.index(end) + len(end):]
    else:
        text += "\n" + body + "\n"
    path.write_text(text)
    log(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="2 s per figure, one run, 1 s warm-up")
    ap.add_argument("--duration", type=float, default=10, help="seconds per timed run (default 10)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per figure; the median is kept (default 3)")
    ap.add_argument("--warmup", type=float, default=3, help="seconds of warm-up before each figure (default 3)")
    ap.add_argument("--postgres", action="store_true", help="run Gatehouse on PostgreSQL at 127.0.0.1:5432")
    ap.add_argument("--no-peer", action="store_true", help="skip oidc-provider")
    ap.add_argument("--scale-users", type=int, default=None, metavar="N",
                    help="users and sessions of the scale comparison against 1,000 (default 1,000,000; "
                         "100,000 with --smoke; 0 skips it)")
    ap.add_argument("--no-write", action="store_true", help="print the table, leave BENCHMARKS.md alone")
    ap.add_argument("--from-json", type=Path, metavar="FILE",
                    help="measure nothing: render a saved benches/results/latest.json (and write it)")
    args = ap.parse_args()
    if args.from_json:
        r = json.loads(args.from_json.read_text())
        table = render(r)
        print(table)
        if not args.no_write:
            write_benchmarks_md(r, table)
        return
    if args.smoke:
        args.duration, args.runs, args.warmup = 2, 1, 1
    if args.scale_users is None:
        args.scale_users = 100_000 if args.smoke else 1_000_000
    load = Load(args.duration, args.runs, args.warmup)

    ensure_wrk()
    peer_version = None if args.no_peer else ensure_peer()
    exes = build()
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    RESULTS.mkdir(exist_ok=True)

    r = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
         "smoke": args.smoke, "duration": args.duration, "runs": args.runs, "warmup": args.warmup,
         "machine": machine(), "peer_version": peer_version}
    log("raw signing rate")
    out = subprocess.run([str(exes["signing_rate"]), str(max(1.0, min(args.duration, 3.0)))],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    r["signing"] = json.loads(out)
    r["ceiling"] = run_ceiling(exes, load)
    r["peer"] = None if args.no_peer else run_peer(load)
    r["gatehouse"] = run_gatehouse(exes, load, args.postgres, args.scale_users)

    (RESULTS / "latest.json").write_text(json.dumps(r, indent=2))
    table = render(r)
    print(table)
    if not args.no_write:
        write_benchmarks_md(r, table)


if __name__ == "__main__":
    main()
