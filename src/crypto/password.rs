//! Password hashing with argon2id. Hashing is CPU-heavy by design, so it runs on a few
//! dedicated threads behind a semaphore: a flood of sign-in attempts queues here instead of
//! starving the async runtime that serves tokens, JWKS and discovery. Dedicated threads, not
//! tokio's blocking pool, also bound memory: each argon2 run takes `memory_kib` (19 MiB), and
//! the allocator keeps a freed block in the arena of the thread that used it, so hundreds of
//! pool threads would each keep one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// argon2id cost parameters. The defaults are OWASP's: m = 19 MiB, t = 2, p = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        PasswordParams {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Work for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// One permit per hashing thread: a job is sent only when a thread is free.
    permits: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
    /// Hashes waiting for a permit and hashes running, for the metrics.
    waiting: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    /// Passwords verified since start (each one argon2 run), for the metrics.
    verified: Arc<AtomicUsize>,
    /// A hash of a random password, verified against when a user does not exist so that the
    /// response time does not reveal it.
    dummy_hash: Arc<OnceLock<String>>,
}

impl PasswordHasher {
    /// `max_concurrent` bounds how many hashes run at once (default: the number of cores).
    pub fn new(params: PasswordParams, max_concurrent: usize) -> Result<Self, PasswordError> {
        // Verification refuses hashes over these bounds: our own must stay within them.
        if params.memory_kib > MAX_ARGON2_MEMORY_KIB
            || params.iterations > MAX_ARGON2_TIME
            || params.parallelism > MAX_ARGON2_LANES
        {
            return Err(PasswordError::Params(format!(
                "password_hashing may use at most memory_kib {MAX_ARGON2_MEMORY_KIB}, iterations {MAX_ARGON2_TIME}, parallelism {MAX_ARGON2_LANES}"
            )));
        }
        let params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|e| PasswordError::Params(e.to_string()))?;
        let threads = max_concurrent.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while taking a job, never while hashing.
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // A panicking job must not take a hashing thread with it.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            // Every sender is gone: the hasher was dropped.
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| PasswordError::Hash(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(PasswordHasher {
            params,
            permits: Arc::new(Semaphore::new(threads)),
            jobs,
            waiting: Arc::new(AtomicUsize::new(0)),
            running: Arc::new(AtomicUsize::new(0)),
            verified: Arc::new(AtomicUsize::new(0)),
            dummy_hash: Arc::new(OnceLock::new()),
        })
    }

    /// How many permits are free.
    pub fn available_permits(&self) -> usize {
        self.permits.available_permits()
    }

    /// (waiting for a permit, running) hashes right now.
    pub fn queue(&self) -> (usize, usize) {
        (
            self.waiting.load(Ordering::Relaxed),
            self.running.load(Ordering::Relaxed),
        )
    }

    /// How many passwords have been verified since start (right, wrong or of no user).
    pub fn verifications(&self) -> usize {
        self.verified.load(Ordering::Relaxed)
    }

    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let password = password.to_owned();
        let params = self.params.clone();
        self.run(move || hash_blocking(&params, &password)).await?
    }

    /// Checks `password` against a stored PHC hash; `None` (no such user or no password)
    /// costs the same as a wrong password and returns false.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, PasswordError> {
        let stored = match stored {
            Some(s) => s.to_owned(),
            None => self.dummy_hash().await?,
        };
        let known = !stored.is_empty();
        self.verified.fetch_add(1, Ordering::Relaxed);
        let password = password.to_owned();
        let ok = self.run(move || verify_blocking(&password, &stored)).await?;
        Ok(ok && known)
    }

    /// Whether `stored` should be replaced by a hash of this hasher's (after a successful
    /// sign-in, when the password is at hand): a hash of another scheme (an imported Keycloak
    /// PBKDF2 hash), or argon2id with other parameters.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        let Ok(hash) = argon2::PasswordHash::new(stored) else {
            return true;
        };
        let Ok(params) = Params::try_from(&hash) else {
            return true;
        };
        hash.algorithm.as_str() != "argon2id"
            || params.m_cost() != self.params.m_cost()
            || params.t_cost() != self.params.t_cost()
            || params.p_cost() != self.params.p_cost()
    }

    async fn dummy_hash(&self) -> Result<String, PasswordError> {
        if let Some(h) = self.dummy_hash.get() {
            return Ok(h.clone());
        }
        let h = self.hash(&super::random_token()).await?;
        Ok(self.dummy_hash.get_or_init(|| h).clone())
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, PasswordError> {
        let queued = Counted::new(&self.waiting);
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| PasswordError::Hash(e.to_string()))?;
        drop(queued);
        let _running = Counted::new(&self.running);
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(work());
            }))
            .map_err(|_| PasswordError::Hash("the hashing threads have stopped".into()))?;
        result
            .await
            .map_err(|_| PasswordError::Hash("a hashing thread stopped mid-hash".into()))
    }
}

/// Counts one unit while alive; a guard, so a cancelled request is uncounted too.
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn new(counter: &'a AtomicUsize) -> Counted<'a> {
        counter.fetch_add(1, Ordering::Relaxed);
        Counted(counter)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Bounds on what one verification may cost, whatever the stored hash asks (an imported one
/// comes from another system): PBKDF2 iterations per digest, and argon2's memory (KiB), time
/// and lanes. Keycloak's defaults (27,500 and 210,000 iterations; m=7168, t=5) are far below.
pub const MAX_PBKDF2_SHA256_ITERATIONS: u32 = 1_300_000;
pub const MAX_PBKDF2_SHA512_ITERATIONS: u32 = 500_000;
pub const MAX_ARGON2_MEMORY_KIB: u32 = 262_144;
pub const MAX_ARGON2_TIME: u32 = 10;
pub const MAX_ARGON2_LANES: u32 = 8;

/// A PBKDF2 hash as imported: `$pbkdf2-sha256$i=N$salt$hash` (standard base64), within bounds:
/// at most the iteration cap, a salt of 8 to 64 bytes, and a 32- or 64-byte hash.
pub fn parse_pbkdf2(stored: &str) -> Option<(aws_lc_rs::pbkdf2::Algorithm, std::num::NonZeroU32, Vec<u8>, Vec<u8>)> {
    use aws_lc_rs::pbkdf2;
    use base64::Engine as _;
    let (algorithm, cap) = if stored.starts_with("$pbkdf2-sha256$") {
        (pbkdf2::PBKDF2_HMAC_SHA256, MAX_PBKDF2_SHA256_ITERATIONS)
    } else if stored.starts_with("$pbkdf2-sha512$") {
        (pbkdf2::PBKDF2_HMAC_SHA512, MAX_PBKDF2_SHA512_ITERATIONS)
    } else {
        return None;
    };
    let parts: Vec<&str> = stored.split('$').collect();
    let [_, _, iterations, salt, hash] = parts.as_slice() else {
        return None;
    };
    let iterations = iterations
        .strip_prefix("i=")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| *n <= cap)
        .and_then(std::num::NonZeroU32::new)?;
    let engine = base64::engine::general_purpose::STANDARD;
    let salt = engine.decode(salt).ok().filter(|s| (8..=64).contains(&s.len()))?;
    let hash = engine.decode(hash).ok().filter(|h| h.len() == 32 || h.len() == 64)?;
    Some((algorithm, iterations, salt, hash))
}

/// Whether an argon2 PHC string asks for no more than the caps above.
pub fn argon2_within_bounds(stored: &str) -> bool {
    let Ok(hash) = argon2::PasswordHash::new(stored) else {
        return false;
    };
    Params::try_from(&hash).is_ok_and(|p| {
        p.m_cost() <= MAX_ARGON2_MEMORY_KIB && p.t_cost() <= MAX_ARGON2_TIME && p.p_cost() <= MAX_ARGON2_LANES
    })
}

/// Verifies `password` against a PHC string: argon2 (ours, or Keycloak's converted), or PBKDF2
/// as imported from Keycloak, in constant time. A hash that would cost more than the bounds
/// above is refused unread (logged), so no stored value can exhaust memory or threads.
fn verify_blocking(password: &str, stored: &str) -> bool {
    if stored.starts_with("$pbkdf2-") {
        return match parse_pbkdf2(stored) {
            Some((algorithm, n, salt, hash)) => {
                aws_lc_rs::pbkdf2::verify(algorithm, n, &salt, password.as_bytes(), &hash).is_ok()
            }
            None => {
                tracing::error!("a stored PBKDF2 hash is malformed or over the cost bounds; the sign-in is refused");
                false
            }
        };
    }
    if !argon2_within_bounds(stored) {
        tracing::error!("a stored argon2 hash is malformed or over the cost bounds; the sign-in is refused");
        return false;
    }
    Argon2::default().verify_password(password.as_bytes(), stored).is_ok()
}

fn hash_blocking(params: &Params, password: &str) -> Result<String, PasswordError> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = super::random_bytes(16);
    argon
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(
            PasswordParams {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            },
            2,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_and_reject() {
        let h = cheap();
        let stored = h.hash("correct horse").await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(h.verify("correct horse", Some(&stored)).await.unwrap());
        assert!(!h.verify("wrong", Some(&stored)).await.unwrap());
        assert!(!h.verify("anything", None).await.unwrap());
        assert!(!h.verify("x", Some("not a hash")).await.unwrap());
    }

    #[tokio::test]
    async fn queue_counts_waiting_and_running_hashes() {
        let h = cheap();
        assert_eq!(h.queue(), (0, 0));
        // Hold every permit, so the next hash must wait.
        let held = h.permits.clone().acquire_many_owned(2).await.unwrap();
        let task = tokio::spawn({
            let h = h.clone();
            async move { h.hash("queued").await }
        });
        let mut seen = (0, 0);
        for _ in 0..10_000 {
            seen = h.queue();
            if seen.0 == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(seen, (1, 0), "the hash did not queue");
        drop(held);
        task.await.unwrap().unwrap();
        assert_eq!(h.queue(), (0, 0));
    }

    #[test]
    fn default_parameters_are_owasp() {
        let p = PasswordParams::default();
        assert_eq!((p.memory_kib, p.iterations, p.parallelism), (19456, 2, 1));
    }

    /// A Keycloak PBKDF2 hash (derived here with the same primitive) verifies; a wrong
    /// password, a damaged hash or an absurd iteration count does not.
    #[test]
    fn imported_pbkdf2_hashes_verify() {
        use aws_lc_rs::pbkdf2;
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let salt = b"0123456789abcdef";
        let mut derived = [0u8; 64];
        let n = std::num::NonZeroU32::new(1000).unwrap();
        pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, n, salt, b"Old-Password-1", &mut derived);
        let stored = format!(
            "$pbkdf2-sha256$i=1000${}${}",
            engine.encode(salt),
            engine.encode(derived)
        );
        assert!(verify_blocking("Old-Password-1", &stored));
        assert!(!verify_blocking("Old-Password-2", &stored));
        assert!(!verify_blocking("Old-Password-1", &stored.replace("i=1000", "i=1001")));
        assert!(!verify_blocking(
            "Old-Password-1",
            &stored.replace("i=1000", "i=99999999999")
        ));
        assert!(!verify_blocking("Old-Password-1", "$pbkdf2-sha256$i=1000$$"));
        let hasher = PasswordHasher::new(PasswordParams::default(), 1).unwrap();
        assert!(hasher.needs_rehash(&stored));
        let ours = hash_blocking(&hasher.params, "x").unwrap();
        assert!(!hasher.needs_rehash(&ours));
        let weaker = Params::new(8 * 1024, 1, 1, None).unwrap();
        assert!(hasher.needs_rehash(&hash_blocking(&weaker, "x").unwrap()));
    }
}
