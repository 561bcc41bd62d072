//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as Postgres uses it, without channel binding.
//!
//! edgepg carries its own SCRAM rather than `postgres_protocol::authentication::sasl` for two
//! reasons: the nonce must come in as an argument (the core draws no random numbers, and a fixed
//! nonce lets every handshake be replayed in a unit test), and the salted-password keys must be
//! exposed and reusable, so an isolate that reconnects skips the 4096-round PBKDF2.
//!
//! The exchange, step by step:
//!
//! 1. [`ScramSha256::new`] takes the password, a client nonce and, optionally, [`ScramKeys`]
//!    learned from an earlier connection. [`ScramSha256::client_first`] is the
//!    client-first-message (`n,,n=,r=<nonce>`), sent in SASLInitialResponse.
//! 2. The server answers with AuthenticationSASLContinue holding server-first
//!    (`r=<nonce+server nonce>,s=<salt>,i=<iterations>`). [`ScramSha256::handle_server_first`]
//!    checks the nonce and, with cached keys for this salt, returns client-final
//!    (`c=biws,r=…,p=<proof>`), sent in SASLResponse. Otherwise it returns a [`KeyRequest`]:
//!    the caller runs PBKDF2 (the host's native one where it has it, or
//!    [`KeyRequest::derive`]) and hands the salted password to
//!    [`ScramSha256::handle_salted_password`], which returns client-final.
//! 3. The server answers with AuthenticationSASLFinal (`v=<signature>`).
//!    [`ScramSha256::handle_server_final`] verifies it: a server that cannot prove it knows the
//!    password is rejected, even though it already said AuthenticationOk would follow.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::error::{Error, Kind, Result};
use crate::proto::{base64, saslprep};

/// The most PBKDF2 iterations the client accepts from a server (a hostile server could
/// otherwise make the client spin). Postgres uses 4096.
const MAX_ITERATIONS: u32 = 100_000;

/// Keys derived from the salted password: what a reconnect can reuse instead of running PBKDF2.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramKeys {
    /// The salt the server sent.
    pub salt: Vec<u8>,
    /// The iteration count the server sent.
    pub iterations: u32,
    /// HMAC(SaltedPassword, "Client Key").
    pub client_key: [u8; 32],
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: [u8; 32],
}

impl std::fmt::Debug for ScramKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramKeys")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// What server-first asks of the client next.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerFirst {
    /// client-final, to send (the cached keys matched the server's salt).
    Final(Vec<u8>),
    /// The salted password is needed first: see [`KeyRequest`].
    Derive(KeyRequest),
}

/// PBKDF2-HMAC-SHA-256 (RFC 5802's `Hi`) of the password over the server's salt: 32 bytes.
/// Its `Debug` shows only the iteration count.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRequest {
    /// The password: its SASLprep form when `prepared`, else as given (see
    /// [`KeyRequest::prepare`]).
    pub password: Vec<u8>,
    /// Whether `password` is ready for PBKDF2: false for a non-ASCII password in a build
    /// without the `saslprep` feature (its NFKC tables).
    pub prepared: bool,
    /// The server's salt.
    pub salt: Vec<u8>,
    /// The server's iteration count (at most 100 000).
    pub iterations: u32,
}

impl KeyRequest {
    /// Applies SASLprep to the password if it is still to be done, with `nfkc` normalizing
    /// to Unicode form KC (a runtime's own, e.g. JavaScript's `String.prototype.normalize`).
    pub fn prepare(&mut self, nfkc: impl FnOnce(&str) -> String) {
        if self.prepared {
            return;
        }
        if let Ok(password) = std::str::from_utf8(&self.password) {
            self.password = saslprep::prepare(password, nfkc).into_bytes();
        }
        self.prepared = true;
    }

    /// Runs PBKDF2 here.
    pub fn derive(&self) -> [u8; 32] {
        salted_password(&self.password, &self.salt, self.iterations)
    }
}

impl std::fmt::Debug for KeyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRequest")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// One SCRAM-SHA-256 exchange. See the module docs for the order of calls.
pub struct ScramSha256 {
    password: Vec<u8>,
    client_first_bare: String,
    client_nonce: String,
    cached: Option<ScramKeys>,
    state: State,
}

enum State {
    AwaitServerFirst,
    AwaitKey {
        server_first: String,
        nonce: String,
        salt: Vec<u8>,
        iterations: u32,
    },
    AwaitServerFinal {
        auth_message: String,
        keys: ScramKeys,
        derived: bool,
    },
    Done,
}

impl ScramSha256 {
    /// Starts an exchange. `nonce` must be printable ASCII without commas (e.g. base64 of 18
    /// random bytes); `cached` are keys from an earlier exchange with the same password.
    pub fn new(password: &str, nonce: &str, cached: Option<ScramKeys>) -> ScramSha256 {
        ScramSha256::with_user(password, "", nonce, cached)
    }

    /// Like [`ScramSha256::new`] with a user name in client-first (Postgres ignores it and sends
    /// an empty one; the RFC test vectors need it).
    pub fn with_user(
        password: &str,
        user: &str,
        nonce: &str,
        cached: Option<ScramKeys>,
    ) -> ScramSha256 {
        let password = normalize(password);
        ScramSha256 {
            password,
            client_first_bare: format!("n={user},r={nonce}"),
            client_nonce: nonce.to_string(),
            cached,
            state: State::AwaitServerFirst,
        }
    }

    /// The client-first-message: GS2 header `n,,` (no channel binding) + client-first-bare.
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// Takes server-first: returns client-final, or what to derive before it.
    pub fn handle_server_first(&mut self, data: &[u8]) -> Result<ServerFirst> {
        if !matches!(self.state, State::AwaitServerFirst) {
            return Err(scram_error("server-first-message arrived out of order"));
        }
        let text = std::str::from_utf8(data)
            .map_err(|_| scram_error("server-first-message is not UTF-8"))?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for part in text.split(',') {
            if let Some(v) = part.strip_prefix("r=") {
                nonce = Some(v);
            } else if let Some(v) = part.strip_prefix("s=") {
                salt = Some(
                    base64::decode(v)
                        .ok_or_else(|| scram_error("server-first-message salt is not base64"))?,
                );
            } else if let Some(v) = part.strip_prefix("i=") {
                iterations = Some(
                    v.parse::<u32>()
                        .map_err(|_| scram_error("invalid iteration count"))?,
                );
            } else if part.starts_with("m=") {
                return Err(scram_error(
                    "server requires an unsupported SCRAM extension",
                ));
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(scram_error("server-first-message is incomplete"));
        };
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err(scram_error("server nonce does not extend the client nonce"));
        }
        if iterations == 0 || iterations > MAX_ITERATIONS {
            return Err(scram_error("server iteration count out of range"));
        }

        match self.cached.take() {
            Some(keys) if keys.salt == salt && keys.iterations == iterations => Ok(
                ServerFirst::Final(self.client_final(keys, false, text, nonce)),
            ),
            _ => {
                let request = KeyRequest {
                    password: self.password.clone(),
                    // SASLprep is done here with the feature; an ASCII password needs none.
                    prepared: cfg!(feature = "saslprep") || self.password.is_ascii(),
                    salt: salt.clone(),
                    iterations,
                };
                self.state = State::AwaitKey {
                    server_first: text.to_string(),
                    nonce: nonce.to_string(),
                    salt,
                    iterations,
                };
                Ok(ServerFirst::Derive(request))
            }
        }
    }

    /// Takes the salted password of the [`KeyRequest`] and returns client-final.
    pub fn handle_salted_password(&mut self, salted: [u8; 32]) -> Result<Vec<u8>> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::AwaitKey {
                server_first,
                nonce,
                salt,
                iterations,
            } => {
                let keys = keys_of(&salted, salt, iterations);
                Ok(self.client_final(keys, true, &server_first, &nonce))
            }
            other => {
                self.state = other;
                Err(salted_out_of_order())
            }
        }
    }

    /// client-final for `keys`, moving on to await server-final.
    fn client_final(
        &mut self,
        keys: ScramKeys,
        derived: bool,
        server_first: &str,
        nonce: &str,
    ) -> Vec<u8> {
        let client_final_without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, server_first, client_final_without_proof
        );
        let stored_key: [u8; 32] = Sha256::digest(keys.client_key).into();
        let signature = hmac(&stored_key, auth_message.as_bytes());
        let mut proof = keys.client_key;
        for (p, s) in proof.iter_mut().zip(signature) {
            *p ^= s;
        }
        let message = format!("{client_final_without_proof},p={}", base64::encode(proof));
        self.state = State::AwaitServerFinal {
            auth_message,
            keys,
            derived,
        };
        message.into_bytes()
    }

    /// Verifies server-final. On success, returns the keys so the caller can cache them and
    /// whether they were freshly derived.
    pub fn handle_server_final(&mut self, data: &[u8]) -> Result<(ScramKeys, bool)> {
        let State::AwaitServerFinal {
            auth_message,
            keys,
            derived,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(scram_error("server-final-message arrived out of order"));
        };
        let text = std::str::from_utf8(data)
            .map_err(|_| scram_error("server-final-message is not UTF-8"))?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(Error::new(
                Kind::Auth,
                format!("SCRAM authentication failed: {e}"),
            ));
        }
        let verifier = text
            .split(',')
            .find_map(|p| p.strip_prefix("v="))
            .ok_or_else(|| scram_error("server-final-message has no verifier"))?;
        let verifier =
            base64::decode(verifier).ok_or_else(|| scram_error("server verifier is not base64"))?;
        let expected = hmac(&keys.server_key, auth_message.as_bytes());
        if !constant_time_eq(&verifier, &expected) {
            return Err(Error::new(
                Kind::Auth,
                "the server's SCRAM signature does not verify: it does not know the password \
                 (possible impersonation); connection aborted",
            ));
        }
        Ok((keys, derived))
    }
}

/// The password for PBKDF2: SASLprep-ed here with the `saslprep` feature; without it as
/// given, and a non-ASCII one is prepared by the runtime (see [`KeyRequest::prepare`]).
fn normalize(password: &str) -> Vec<u8> {
    #[cfg(feature = "saslprep")]
    {
        use unicode_normalization::UnicodeNormalization;
        saslprep::prepare(password, |s| s.nfkc().collect()).into_bytes()
    }
    #[cfg(not(feature = "saslprep"))]
    {
        password.as_bytes().to_vec()
    }
}

/// Runs PBKDF2 (RFC 5802's `Hi`) and derives the client and server keys.
#[cfg(test)]
fn derive_keys(password: &[u8], salt: Vec<u8>, iterations: u32) -> ScramKeys {
    let salted = salted_password(password, &salt, iterations);
    keys_of(&salted, salt, iterations)
}

/// The client and server keys of a salted password.
fn keys_of(salted: &[u8; 32], salt: Vec<u8>, iterations: u32) -> ScramKeys {
    ScramKeys {
        salt,
        iterations,
        client_key: hmac(salted, b"Client Key"),
        server_key: hmac(salted, b"Server Key"),
    }
}

/// PBKDF2-HMAC-SHA-256 with a 32-byte output (RFC 5802's `Hi`).
fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(password).unwrap_or_else(|_| unreachable!());
    mac.update(salt);
    mac.update(&[0, 0, 0, 1]);
    let mut prev: [u8; 32] = mac.finalize().into_bytes().into();
    let mut salted = prev;
    let keyed = Hmac::<Sha256>::new_from_slice(password).unwrap_or_else(|_| unreachable!());
    for _ in 1..iterations {
        let mut mac = keyed.clone();
        mac.update(&prev);
        prev = mac.finalize().into_bytes().into();
        for (s, p) in salted.iter_mut().zip(prev) {
            *s ^= p;
        }
    }
    salted
}

/// The server-final message a real server would send for this exchange (for transcript tests).
#[cfg(test)]
pub(crate) fn test_server_final(
    password: &str,
    client_nonce: &str,
    server_first: &str,
    client_final: &str,
) -> String {
    let salt_b64 = server_first
        .split(',')
        .find_map(|p| p.strip_prefix("s="))
        .unwrap_or_default();
    let iterations = server_first
        .split(',')
        .find_map(|p| p.strip_prefix("i="))
        .and_then(|i| i.parse().ok())
        .unwrap_or(4096);
    let salt = base64::decode(salt_b64).unwrap_or_default();
    let keys = derive_keys(password.as_bytes(), salt, iterations);
    let without_proof = client_final.split(",p=").next().unwrap_or_default();
    let auth_message = format!("n=,r={client_nonce},{server_first},{without_proof}");
    format!(
        "v={}",
        base64::encode(hmac(&keys.server_key, auth_message.as_bytes()))
    )
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A salted password given when none was asked for.
pub(crate) fn salted_out_of_order() -> Error {
    scram_error("a salted password arrived out of order")
}

fn scram_error(message: &str) -> Error {
    Error::protocol(format!("SCRAM: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7677 section 3.
    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    /// server-first in, client-final out, deriving here when asked to.
    fn client_final(scram: &mut ScramSha256, server_first: &str) -> Result<Vec<u8>> {
        match scram.handle_server_first(server_first.as_bytes())? {
            ServerFirst::Final(message) => Ok(message),
            ServerFirst::Derive(request) => scram.handle_salted_password(request.derive()),
        }
    }

    #[test]
    fn rfc7677_vector() {
        let mut scram = ScramSha256::with_user("pencil", "user", NONCE, None);
        assert_eq!(scram.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let ServerFirst::Derive(request) =
            scram.handle_server_first(SERVER_FIRST.as_bytes()).unwrap()
        else {
            panic!("no cached keys: PBKDF2 is asked for");
        };
        assert_eq!(request.iterations, 4096);
        assert_eq!(request.password, b"pencil");
        assert!(!format!("{request:?}").contains("pencil"));
        // A second salted password (or one before server-first) is refused.
        let final_msg = scram.handle_salted_password(request.derive()).unwrap();
        assert!(scram.handle_salted_password(request.derive()).is_err());
        assert_eq!(std::str::from_utf8(&final_msg).unwrap(), CLIENT_FINAL);
        let (keys, derived) = scram.handle_server_final(SERVER_FINAL.as_bytes()).unwrap();
        assert!(derived);
        assert_eq!(keys.iterations, 4096);

        // A second exchange with cached keys gives the same bytes without PBKDF2.
        let mut again = ScramSha256::with_user("pencil", "user", NONCE, Some(keys));
        let final_again = again.handle_server_first(SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(final_again, ServerFirst::Final(final_msg));
        let (_, derived) = again.handle_server_final(SERVER_FINAL.as_bytes()).unwrap();
        assert!(!derived);
    }

    #[test]
    fn stale_cache_is_ignored() {
        let stale = ScramKeys {
            salt: b"other".to_vec(),
            iterations: 4096,
            client_key: [0; 32],
            server_key: [0; 32],
        };
        let mut scram = ScramSha256::with_user("pencil", "user", NONCE, Some(stale));
        let final_msg = client_final(&mut scram, SERVER_FIRST).unwrap();
        assert_eq!(std::str::from_utf8(&final_msg).unwrap(), CLIENT_FINAL);
    }

    #[test]
    fn forged_server_signature_is_rejected() {
        let mut scram = ScramSha256::with_user("pencil", "user", NONCE, None);
        client_final(&mut scram, SERVER_FIRST).unwrap();
        let err = scram
            .handle_server_final(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            .unwrap_err();
        assert!(err.is_auth());
    }

    #[test]
    fn hostile_server_first() {
        for bad in [
            "r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "r=rOprNGfwEbeRWgbNEkqOx,s=!!!,i=4096",
            "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4000000000",
            "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
            "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==",
            "\u{ff}",
            "",
        ] {
            let mut scram = ScramSha256::with_user("pencil", "user", NONCE, None);
            assert!(scram.handle_server_first(bad.as_bytes()).is_err(), "{bad}");
        }
        let mut scram = ScramSha256::new("pencil", NONCE, None);
        assert!(scram.handle_server_final(SERVER_FINAL.as_bytes()).is_err());
    }

    #[test]
    fn a_key_request_is_prepared_once_with_the_runtimes_normalization() {
        let mut request = KeyRequest {
            password: "\u{ff21}\u{ad}b".as_bytes().to_vec(),
            prepared: false,
            salt: Vec::new(),
            iterations: 1,
        };
        // Full-width A as NFKC makes it; the soft hyphen is mapped to nothing first.
        request.prepare(|s| s.replace('\u{ff21}', "A"));
        assert_eq!(request.password, b"Ab");
        assert!(request.prepared);
        request.prepare(|_| unreachable!("prepared once"));
        // A password failing SASLprep (a private-use character) is used as given.
        let mut request = KeyRequest {
            password: "x\u{e000}".as_bytes().to_vec(),
            prepared: false,
            salt: Vec::new(),
            iterations: 1,
        };
        request.prepare(|s| s.to_string());
        assert_eq!(request.password, "x\u{e000}".as_bytes());
    }
}
