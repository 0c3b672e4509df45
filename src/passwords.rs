//! Password links: the rules in one place.
//!
//! - A password is kept only as an Argon2id hash in a PHC string (`links.password_hash`), with
//!   the `argon2` crate's default parameters (19 MiB, 2 passes, 1 lane: OWASP's recommendation).
//!   The password itself is never stored, logged or put in a URL.
//! - Whoever gives the password on the landing page gets an unlock cookie: `{expiry}.{mac}`, the
//!   MAC an HMAC with the signing secret over the link id, the expiry and a digest of the hash.
//!   It lasts [`UNLOCK_LIFETIME`] and never past the link's expiry; another link's cookie does not
//!   open this one, and changing or removing the password (a new hash) or rotating the secret
//!   ends every cookie issued before.
//! - Wrong guesses are limited per link and per client ([`Guesses`]). Argon2 is slow on purpose,
//!   so a check runs on the blocking pool, a few at a time, and never once the limiter says no.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::signing::{Purpose, Signer};
use crate::{Error, Result};

/// The longest password accepted, in bytes: enough for any passphrase, and a bound on what a
/// check hashes.
pub const MAX_LEN: usize = 1024;

/// How long an unlock cookie lasts (never past the link's own expiry).
pub const UNLOCK_LIFETIME: i64 = 12 * 3600;

/// Wrong guesses one client may make at once, on any links...
const CLIENT_BURST: u32 = 5;
/// ...then one per this many seconds.
const CLIENT_EVERY_SECS: u64 = 20;
/// Wrong guesses one link may take at once, from all clients together...
const LINK_BURST: u32 = 20;
/// ...then one per this many seconds. Higher than a client's, so one guesser locks only
/// themselves out first; a crowd of addresses still cannot try more than this against a link.
const LINK_EVERY_SECS: u64 = 6;
/// Password checks running at once: each holds 19 MiB and a core for tens of milliseconds, so a
/// flood of guesses queues here instead of filling the blocking pool and the memory.
const CHECKS_AT_ONCE: usize = 2;

/// A password as given, before it is hashed. Its `Debug` hides it, so no log line, panic
/// message or error can show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// A new password, checked (see [`check_new`]).
    pub fn new(text: String) -> Result<Password> {
        check_new(&text)?;
        Ok(Password(text))
    }

    /// The password itself, to send to a server or hash.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// Its Argon2id hash (see [`hash`]).
    pub fn hash(&self) -> Result<String> {
        hash(&self.0)
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(…)")
    }
}

/// Checks a new password: not empty, not over [`MAX_LEN`].
pub fn check_new(password: &str) -> Result<()> {
    if password.is_empty() {
        return Err(Error::invalid_field("password", "the password is empty"));
    }
    if password.len() > MAX_LEN {
        return Err(Error::invalid_field("password", format!("the password is longer than {MAX_LEN} bytes")));
    }
    Ok(())
}

/// The Argon2id hash of `password`, as a PHC string, with a fresh random salt.
pub fn hash(password: &str) -> Result<String> {
    check_new(password)?;
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::InvalidInput(format!("cannot salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::InvalidInput(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches the PHC string `phc` (slow: call it off the async workers). A
/// damaged hash matches nothing.
pub fn verify(phc: &str, password: &str) -> bool {
    if password.len() > MAX_LEN {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

/// The unlock cookie's name for a link: one per link, so unlocking one never touches another.
pub fn cookie_name(link_id: &str) -> String {
    format!("sharelock_{link_id}")
}

/// When an unlock cookie issued at `now` ends: [`UNLOCK_LIFETIME`] later, or at the link's expiry
/// if that comes first.
pub fn unlock_expiry(link_expires_at: Option<i64>, now: i64) -> i64 {
    let end = now.saturating_add(UNLOCK_LIFETIME);
    link_expires_at.map_or(end, |t| t.min(end))
}

/// An unlock cookie's value for the link `link_id` with the hash `phc`, ending at `expiry`.
pub fn unlock_value(signer: &Signer, link_id: &str, phc: &str, expiry: i64) -> String {
    format!("{expiry}.{}", signer.sign(Purpose::Unlock, &unlock_message(link_id, phc, expiry)))
}

/// Whether `value` is an unlock cookie of this link with this hash, still valid at `now`.
pub fn check_unlock(signer: &Signer, link_id: &str, phc: &str, value: &str, now: i64) -> bool {
    let Some((expiry, mac)) = value.split_once('.') else { return false };
    let Ok(expiry) = expiry.parse::<i64>() else { return false };
    expiry > now && signer.verify(Purpose::Unlock, &unlock_message(link_id, phc, expiry), mac)
}

/// What an unlock cookie signs. Ids and numbers hold no NUL, so the fields cannot run together;
/// the hash goes in as a digest, so a new password (a new salt, a new hash) gives new cookies.
fn unlock_message(link_id: &str, phc: &str, expiry: i64) -> String {
    format!("{link_id}\0{expiry}\0{}", hex::encode(Sha256::digest(phc.as_bytes())))
}

/// Why a password was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// It does not match.
    Wrong,
    /// Too many wrong guesses from this client or against this link: try again after this long.
    TooMany(Duration),
}

/// The limits on wrong guesses, per link and per client, and on checks at once. Only wrong
/// guesses spend the budgets, so a right password sent on each request (`curl -u`) is never
/// limited; once a budget is spent, no check runs until it has refilled.
pub struct Guesses {
    by_link: Budget<String>,
    by_client: Budget<IpAddr>,
    checks: Arc<tokio::sync::Semaphore>,
}

impl Default for Guesses {
    fn default() -> Self {
        Guesses {
            by_link: Budget::new(LINK_BURST, LINK_EVERY_SECS),
            by_client: Budget::new(CLIENT_BURST, CLIENT_EVERY_SECS),
            checks: Arc::new(tokio::sync::Semaphore::new(CHECKS_AT_ONCE)),
        }
    }
}

impl Guesses {
    /// Checks `password` from `client` against the link `link_id`'s hash `phc`: on the blocking
    /// pool, after the limits, a wrong one spending both budgets.
    pub async fn check(
        &self,
        link_id: &str,
        client: IpAddr,
        phc: &str,
        password: &str,
    ) -> std::result::Result<(), Refused> {
        self.refuse_if_spent(link_id, &client)?;
        // A permit stays held across the check; the semaphore is never closed.
        let _permit = self.checks.acquire().await.map_err(|_| Refused::TooMany(Duration::from_secs(1)))?;
        // Checked again: guesses queued behind the permit may have spent the budget meanwhile.
        self.refuse_if_spent(link_id, &client)?;
        let (phc, password) = (phc.to_string(), password.to_string());
        let matches = tokio::task::spawn_blocking(move || verify(&phc, &password)).await.unwrap_or(false);
        if matches {
            return Ok(());
        }
        let waits = [self.by_link.spend(link_id.to_string()), self.by_client.spend(client)];
        match waits.into_iter().flatten().max() {
            Some(wait) => Err(Refused::TooMany(wait)),
            None => Err(Refused::Wrong),
        }
    }

    fn refuse_if_spent(&self, link_id: &str, client: &IpAddr) -> std::result::Result<(), Refused> {
        let waits = [self.by_link.wait(link_id), self.by_client.wait(client)];
        match waits.into_iter().flatten().max() {
            Some(wait) => Err(Refused::TooMany(wait)),
            None => Ok(()),
        }
    }

    /// Forgets links and clients that have been quiet (bounded memory under floods).
    pub fn forget_quiet(&self) {
        self.by_link.forget_quiet();
        self.by_client.forget_quiet();
    }
}

/// One budget of wrong guesses per key: governor's token bucket, and the moment each key that
/// ran out may guess again (governor cannot be asked without spending).
struct Budget<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    spent_until: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq + Clone> Budget<K> {
    fn new(burst: u32, every_secs: u64) -> Self {
        let quota = Quota::with_period(Duration::from_secs(every_secs))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Budget { limiter: RateLimiter::keyed(quota), spent_until: Mutex::default() }
    }

    /// How long `key` must still wait, if its budget is spent.
    fn wait<Q>(&self, key: &Q) -> Option<Duration>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let spent = self.spent_until.lock().unwrap_or_else(|p| p.into_inner());
        spent.get(key).and_then(|until| until.checked_duration_since(Instant::now())).filter(|d| !d.is_zero())
    }

    /// Spends one guess of `key`; how long it must wait now, if that was past its budget.
    fn spend(&self, key: K) -> Option<Duration> {
        let clock = DefaultClock::default();
        let denied = self.limiter.check_key(&key).err()?;
        // The guess was over budget, but it ran: the next one waits for a whole token.
        let wait = denied.wait_time_from(clock.now()).max(Duration::from_secs(1));
        self.spent_until.lock().unwrap_or_else(|p| p.into_inner()).insert(key, Instant::now() + wait);
        Some(wait)
    }

    fn forget_quiet(&self) {
        let now = Instant::now();
        self.spent_until.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, until| *until > now);
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> (tempfile::TempDir, Signer) {
        let dir = tempfile::tempdir().expect("dir");
        let signer = Signer::create(&dir.path().join("secret.key")).expect("signer");
        (dir, signer)
    }

    #[test]
    fn hashes_with_argon2id_and_verifies() {
        let phc = hash("correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify(&phc, "correct horse"));
        assert!(!verify(&phc, "correct horsE"));
        assert!(!verify("not a hash", "correct horse"));
        assert_ne!(hash("correct horse").expect("hash"), phc, "a fresh salt each time");
    }

    #[test]
    fn refuses_empty_and_overlong_passwords() {
        assert!(hash("").is_err());
        assert!(hash(&"x".repeat(MAX_LEN + 1)).is_err());
        assert!(check_new(&"x".repeat(MAX_LEN)).is_ok());
    }

    #[test]
    fn unlock_cookies_are_bound_to_link_hash_and_time() {
        let (_dir, s) = signer();
        let value = unlock_value(&s, "link1", "$hash1", 1_000);
        assert!(check_unlock(&s, "link1", "$hash1", &value, 999));
        assert!(!check_unlock(&s, "link1", "$hash1", &value, 1_000), "expired");
        assert!(!check_unlock(&s, "link2", "$hash1", &value, 999), "another link");
        assert!(!check_unlock(&s, "link1", "$hash2", &value, 999), "a changed password");
        let stretched = value.replacen("1000.", "9000.", 1);
        assert!(!check_unlock(&s, "link1", "$hash1", &stretched, 999), "a forged expiry");
        for bad in ["", ".", "abc", "1000", "1000.", "x.y"] {
            assert!(!check_unlock(&s, "link1", "$hash1", bad, 999), "{bad:?}");
        }
    }

    #[test]
    fn unlock_never_outlives_the_link() {
        assert_eq!(unlock_expiry(None, 100), 100 + UNLOCK_LIFETIME);
        assert_eq!(unlock_expiry(Some(200), 100), 200);
        assert_eq!(unlock_expiry(Some(i64::MAX), 100), 100 + UNLOCK_LIFETIME);
    }

    #[tokio::test]
    async fn wrong_guesses_are_limited_per_client_and_right_ones_never() {
        let guesses = Guesses::default();
        let phc = hash("pw").expect("hash");
        let me: IpAddr = "10.0.0.1".parse().expect("ip");
        for _ in 0..3 {
            assert_eq!(guesses.check("l", me, &phc, "pw").await, Ok(()));
        }
        let mut refusals = Vec::new();
        for _ in 0..CLIENT_BURST + 1 {
            refusals.push(guesses.check("l", me, &phc, "nope").await);
        }
        assert!(refusals[..CLIENT_BURST as usize].iter().all(|r| *r == Err(Refused::Wrong)), "{refusals:?}");
        assert!(matches!(refusals[CLIENT_BURST as usize], Err(Refused::TooMany(_))), "{refusals:?}");
        // Spent: even the right password is not checked now.
        assert!(matches!(guesses.check("l", me, &phc, "pw").await, Err(Refused::TooMany(_))));
        // Another client is not held back by this one's guesses.
        let other: IpAddr = "10.0.0.2".parse().expect("ip");
        assert_eq!(guesses.check("l", other, &phc, "pw").await, Ok(()));
    }
}
