//! A client's current credentials: the configured username and password, replaced by
//! `reauthenticate` or by each answer of the credential provider (asked at every handshake),
//! and the schedule for renewing credentials that expire (tokens).
//!
//! The password lives here only as a `Secret`; a handshake gets its own copy, which the
//! handshake wipes once authentication is answered.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::config::{Config, CredentialSource, Credentials, Secret, TokenRefresh};

/// The credentials a handshake sends: the user (None: `default`) and the password, exposed
/// for the handshake's own copy.
pub(crate) struct HandshakeCredentials {
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
}

pub(crate) struct Auth {
    provider: Option<CredentialSource>,
    refresh: TokenRefresh,
    state: Mutex<AuthState>,
}

struct AuthState {
    username: Option<String>,
    password: Option<Secret>,
    /// When to ask the provider for fresh credentials (they have a lifetime).
    renew_at: Option<Instant>,
    /// A renewal is running (on its own thread).
    renewing: bool,
}

impl Auth {
    pub(crate) fn new(config: &Config) -> Auth {
        Auth {
            provider: config.credential_provider.clone(),
            refresh: config.token_refresh,
            state: Mutex::new(AuthState {
                username: config.username.clone(),
                password: config.password.clone(),
                renew_at: None,
                renewing: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, AuthState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The provider, if the config has one.
    pub(crate) fn provider(&self) -> Option<&CredentialSource> {
        self.provider.as_ref()
    }

    /// The credentials for a new connection's handshake: `fetched`, the provider's answer
    /// when there is a provider (asked off the reactor thread at every connect), which
    /// become the current ones; else the current ones.
    pub(crate) fn for_handshake(
        &self,
        fetched: Option<Credentials>,
        now: Instant,
    ) -> HandshakeCredentials {
        if let Some(fresh) = fetched {
            self.install(&fresh, now);
        }
        let state = self.lock();
        HandshakeCredentials {
            username: state.username.clone(),
            password: state.password.as_ref().map(|p| p.expose().to_string()),
        }
    }

    /// Makes `credentials` the current ones (used by later handshakes) and schedules their
    /// renewal when they have a lifetime and a provider can renew them.
    pub(crate) fn install(&self, credentials: &Credentials, now: Instant) {
        let mut state = self.lock();
        state.username = credentials.username.clone();
        state.password = Some(credentials.password.clone());
        state.renew_at = match (credentials.lifetime, &self.provider) {
            // A lifetime too long for the clock never needs renewing.
            (Some(lifetime), Some(_)) => now.checked_add(self.refresh.renew_after(lifetime)),
            _ => None,
        };
    }

    /// When the next renewal is due (None when nothing expires or one is running).
    pub(crate) fn next_renewal(&self) -> Option<Instant> {
        let state = self.lock();
        if state.renewing {
            None
        } else {
            state.renew_at
        }
    }

    /// Claims a due renewal: true when one is due at `now` and none is running.
    pub(crate) fn begin_renewal(&self, now: Instant) -> bool {
        let mut state = self.lock();
        match state.renew_at {
            Some(at) if at <= now && !state.renewing => {
                state.renewing = true;
                true
            }
            _ => false,
        }
    }

    /// A renewal finished: on success `install` has scheduled the next one; on failure, try
    /// again after the retry delay.
    pub(crate) fn end_renewal(&self, succeeded: bool, now: Instant) {
        let mut state = self.lock();
        state.renewing = false;
        if !succeeded {
            state.renew_at = Some(now + self.refresh.retry_delay);
        }
    }
}
