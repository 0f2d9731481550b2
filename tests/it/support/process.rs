//! The real `gatehouse` binary as a child process: one-shot commands and `serve`, each with
//! no inherited `GATEHOUSE_*` settings, run from the package root (where `flows/` is).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use reqwest::StatusCode;

/// The binary with `args`, no inherited `GATEHOUSE_*` variables, standard input closed.
pub fn gatehouse(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null());
    for (name, _) in std::env::vars() {
        if name.starts_with("GATEHOUSE_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Runs `cmd` to completion, writing `stdin` (if any) to its standard input.
pub fn run(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(input.as_bytes()).expect("write to gatehouse's stdin");
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait for {cmd:?}: {e}"))
}

/// Standard output and standard error together.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// A `gatehouse serve` child process, killed when dropped (also when the test panics).
pub struct ServerProcess {
    pub child: Child,
    pub log: PathBuf,
    pub port: u16,
}

impl ServerProcess {
    /// Starts `cmd` (a `serve` command without `--listen`) on a free port, its output going
    /// to `log`, and waits until `/health/ready` answers (polling, bounded; fails early if the
    /// process exits).
    pub async fn start(cmd: Command, log: PathBuf) -> ServerProcess {
        ServerProcess::start_on(cmd, log, free_port()).await
    }

    /// [`start`](Self::start) on a given port (e.g. one chosen earlier for `--public-url`).
    pub async fn start_on(cmd: Command, log: PathBuf, port: u16) -> ServerProcess {
        ServerProcess::start_until(cmd, log, port, "/health/ready").await
    }

    /// [`start_on`](Self::start_on), waiting for `health` (`/health/live` for a server that
    /// is not meant to become ready) instead of `/health/ready`.
    pub async fn start_until(mut cmd: Command, log: PathBuf, port: u16, health: &str) -> ServerProcess {
        let file = std::fs::File::create(&log).expect("create the server log");
        cmd.args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(file.try_clone().expect("clone the log file"))
            .stderr(file);
        let child = cmd.spawn().expect("spawn gatehouse serve");
        let mut server = ServerProcess { child, log, port };
        let ready = format!("{}{health}", server.base());
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Some(status) = server.child.try_wait().expect("poll the server process") {
                panic!(
                    "gatehouse serve exited with {status} before it was ready:\n{}",
                    server.log()
                );
            }
            let probe = client.get(&ready).timeout(Duration::from_millis(500)).send().await;
            if probe.is_ok_and(|r| r.status() == StatusCode::OK) {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("gatehouse serve did not become ready on {ready}:\n{}", server.log());
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal_term(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit (polling, bounded).
    pub async fn exit_status(&mut self) -> ExitStatus {
        for _ in 0..1000 {
            if let Some(status) = self.child.try_wait().expect("poll the server") {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("gatehouse did not exit:\n{}", self.log());
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` (bounded by `deadline`) until it returns `Some`; panics with `what` if it
/// never does. For conditions another process brings about, such as a realm going live.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if start.elapsed() > deadline {
            panic!("{what}: not within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A directory's path as `&str` for arguments.
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}
