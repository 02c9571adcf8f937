//! Credentials that change over time: `Credentials` (a user, a password or token, and how long
//! it is good for), the `CredentialProvider` a client asks at every connect and reconnect, and
//! `TokenRefresh`, when to ask again before a token expires.
//!
//! Nothing here calls the provider; the reactor has it asked on a helper thread at each
//! handshake, and the engine's token refresher asks it before expiry.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::Secret;
use crate::error::{Error, Result};

/// A username (None: the `default` user) and its password or token.
///
/// `Debug` shows the user and the lifetime, never the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The ACL user; None authenticates the `default` user (`AUTH <password>`).
    pub username: Option<String>,
    /// The password or token.
    pub password: Secret,
    /// How long, from when the provider returned them, the credentials stay valid (a
    /// token's lifetime). None: they do not expire. With a lifetime, the client asks the
    /// provider again before it runs out (see [`TokenRefresh`]) and re-authenticates every
    /// connection.
    pub lifetime: Option<Duration>,
}

impl Credentials {
    /// Credentials for `username` (None: `default`) that do not expire.
    pub fn new(username: Option<&str>, password: &str) -> Credentials {
        Credentials {
            username: username.map(str::to_owned),
            password: Secret::new(password),
            lifetime: None,
        }
    }
}

/// Where a client gets its credentials, asked at every connect and reconnect (and on
/// `reauthenticate` without explicit credentials), so rotated passwords and renewed tokens
/// are used without restarting the client.
///
/// It is called on a library thread of its own (never a reactor thread), one call at a time
/// per connection: a slow provider delays only the connection waiting for it, and the connect
/// timeout still applies to that connection. An error fails the connection with an
/// `AUTHENTICATION` error that quotes the error's message (so the message must not hold a
/// secret); a panic fails it with `AUTHENTICATION` too.
pub trait CredentialProvider: Send + Sync {
    /// The credentials to use now.
    fn credentials(&self) -> Result<Credentials>;
}

impl<F> CredentialProvider for F
where
    F: Fn() -> Result<Credentials> + Send + Sync,
{
    fn credentials(&self) -> Result<Credentials> {
        self()
    }
}

/// A shared [`CredentialProvider`], as the config holds it. Two are equal when they are the
/// same provider.
#[derive(Clone)]
pub struct CredentialSource(pub Arc<dyn CredentialProvider>);

impl CredentialSource {
    /// Wraps a provider.
    pub fn new(provider: impl CredentialProvider + 'static) -> CredentialSource {
        CredentialSource(Arc::new(provider))
    }

    /// Asks the provider; its error becomes `AUTHENTICATION` unless it already is one, and
    /// so does a panic in it.
    pub fn fetch(&self) -> Result<Credentials> {
        let asked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.0.credentials()));
        let Ok(answer) = asked else {
            return Err(Error::new(
                crate::ErrorKind::Authentication,
                "the credential provider panicked",
            ));
        };
        answer.map_err(|e| {
            if e.is(crate::ErrorKind::Authentication) {
                e
            } else {
                Error::new(
                    crate::ErrorKind::Authentication,
                    format!("the credential provider failed: {}", e.message()),
                )
            }
        })
    }
}

impl PartialEq for CredentialSource {
    fn eq(&self, other: &CredentialSource) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CredentialSource {}

impl fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialSource")
    }
}

/// When credentials with a lifetime are renewed: after `ratio` of the lifetime has passed, but
/// at least `min_ahead` before they expire (as redis-py's TokenManager: its
/// `expiration_refresh_ratio` and `lower_refresh_bound_millis`).
#[derive(Clone, Copy, Debug)]
pub struct TokenRefresh {
    /// Share of the lifetime after which to renew, above 0 and at most 1. Default 0.8.
    pub ratio: f64,
    /// Renew at least this long before expiry. Default zero.
    pub min_ahead: Duration,
    /// Wait before asking the provider again after it failed to renew. Default 1 s.
    pub retry_delay: Duration,
}

impl Default for TokenRefresh {
    fn default() -> TokenRefresh {
        TokenRefresh {
            ratio: 0.8,
            min_ahead: Duration::ZERO,
            retry_delay: Duration::from_secs(1),
        }
    }
}

impl PartialEq for TokenRefresh {
    fn eq(&self, other: &TokenRefresh) -> bool {
        self.ratio.to_bits() == other.ratio.to_bits()
            && self.min_ahead == other.min_ahead
            && self.retry_delay == other.retry_delay
    }
}

impl Eq for TokenRefresh {}

impl TokenRefresh {
    /// How long after the credentials were received to renew them.
    pub fn renew_after(&self, lifetime: Duration) -> Duration {
        let by_ratio = lifetime.mul_f64(self.ratio.clamp(0.0, 1.0));
        let by_bound = lifetime.saturating_sub(self.min_ahead);
        by_ratio.min(by_bound)
    }

    /// Checks the ratio. Errors are `INVALID_ARGUMENT`.
    pub fn validate(&self) -> Result<()> {
        if !(self.ratio > 0.0 && self.ratio <= 1.0) {
            return Err(Error::invalid_argument(format!(
                "token_refresh.ratio must be above 0 and at most 1, not {}",
                self.ratio
            )));
        }
        super::check_duration("token_refresh.min_ahead", self.min_ahead)?;
        super::check_duration("token_refresh.retry_delay", self.retry_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_time_follows_ratio_and_bound() {
        let r = TokenRefresh::default();
        assert_eq!(
            r.renew_after(Duration::from_secs(100)),
            Duration::from_secs(80)
        );
        let r = TokenRefresh {
            min_ahead: Duration::from_secs(30),
            ..TokenRefresh::default()
        };
        assert_eq!(
            r.renew_after(Duration::from_secs(100)),
            Duration::from_secs(70)
        );
        assert_eq!(r.renew_after(Duration::from_secs(10)), Duration::ZERO);
        assert!(TokenRefresh { ratio: 0.0, ..r }.validate().is_err());
        assert!(TokenRefresh {
            ratio: f64::NAN,
            ..r
        }
        .validate()
        .is_err());
    }

    #[test]
    fn debug_hides_the_password() {
        let c = Credentials::new(Some("app"), "tok-123-secret");
        let shown = format!("{c:?}");
        assert!(!shown.contains("tok-123"), "{shown}");
        assert!(shown.contains("app"));
    }
}
