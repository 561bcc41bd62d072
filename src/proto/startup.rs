//! The startup handshake: SSLRequest negotiation, StartupMessage and authentication.
//!
//! Round trips matter at the edge, so the handshake sends each message at the earliest point
//! the server can take it:
//!
//! ```text
//! first contact (method unknown)          with learned hints (SCRAM)
//! C: Startup                              C: Startup + SASLInitialResponse
//! S: AuthenticationSASL                   S: AuthenticationSASL + SASLContinue
//! C: SASLInitialResponse                  C: SASLResponse + Parse/Bind/Execute/Sync
//! S: SASLContinue                         S: SASLFinal, AuthOk, …, ReadyForQuery, rows
//! C: SASLResponse + Parse/Bind/…
//! S: SASLFinal, AuthOk, …, ReadyForQuery, rows
//! ```
//!
//! Queries submitted before the handshake ends are sent with the last authentication message
//! (or with the StartupMessage when the server is known to trust the role): the server reads
//! them after it has authenticated the client. The client-first SCRAM message is only sent early
//! when an earlier connection to the same server learned that it wants SCRAM.

use bytes::BytesMut;
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use crate::error::{Error, Kind, Result};
use crate::proto::config::{AuthMethod, ChannelBinding, Config};
use crate::proto::scram::{KeyRequest, ScramKeys, ScramSha256, ServerFirst, salted_out_of_order};

/// What an isolate learned about a server from earlier connections, shared by every connection
/// with the same config: the authentication method it asks for and the SCRAM keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthHints {
    /// The method the server asked for last time.
    pub method: Option<AuthKind>,
    /// SCRAM keys derived last time (reused when salt and iteration count match).
    pub scram_keys: Option<ScramKeys>,
}

/// An authentication method a server asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    /// No authentication.
    Trust,
    /// Cleartext password.
    Cleartext,
    /// MD5 password.
    Md5,
    /// SCRAM-SHA-256.
    Scram,
}

/// The outcome of feeding one message to the handshake.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Keep going.
    Continue,
    /// The client has sent its last authentication message: requests may follow.
    CredentialsSent,
    /// SCRAM needs the salted password: derive it, then call [`Handshake::salted`].
    DeriveKey(KeyRequest),
    /// AuthenticationOk arrived: what the handshake learned, for the next connection's hints.
    Authenticated(AuthHints),
}

pub(crate) struct Handshake {
    user: String,
    password: Option<String>,
    channel_binding: ChannelBinding,
    require_auth: Vec<AuthMethod>,
    nonce: String,
    hints: AuthHints,
    state: State,
    learned: AuthHints,
}

enum State {
    /// StartupMessage sent; waiting for an Authentication request.
    AwaitRequest,
    /// SASLInitialResponse sent (maybe early); waiting for SASLContinue.
    ScramFirst(ScramSha256, bool),
    /// server-first arrived; waiting for the salted password (PBKDF2) from the caller.
    ScramKey(ScramSha256),
    /// SASLResponse sent; waiting for SASLFinal.
    ScramFinal(ScramSha256),
    /// A password was sent; waiting for AuthenticationOk.
    AwaitOk,
    /// AuthenticationOk received.
    Done,
}

impl Handshake {
    pub(crate) fn new(config: &Config, nonce: String, hints: AuthHints) -> Handshake {
        Handshake {
            user: config.user.clone(),
            password: config.password.clone(),
            channel_binding: config.channel_binding,
            require_auth: config.require_auth.clone(),
            nonce,
            hints,
            state: State::AwaitRequest,
            learned: AuthHints::default(),
        }
    }

    /// Writes the StartupMessage (and, with a SCRAM hint, the client-first message). Returns
    /// `true` when requests may follow right away (the role is known to be trusted).
    pub(crate) fn start(&mut self, config: &Config, out: &mut BytesMut) -> Result<bool> {
        let mut params: Vec<(&str, &str)> = vec![
            ("user", &config.user),
            ("database", &config.database),
            ("client_encoding", "UTF8"),
            // The form the server reports back: PgBouncer compares it with the server's value and
            // would re-send a SET before every transaction for "ISO" (reported as "ISO, MDY").
            ("DateStyle", "ISO, MDY"),
        ];
        if let Some(app) = &config.application_name {
            params.push(("application_name", app));
        }
        if let Some(options) = &config.options {
            params.push(("options", options));
        }
        frontend::startup_message(params, out)
            .map_err(|_| Error::config("a startup parameter contains a NUL byte"))?;
        match self.hints.method {
            Some(AuthKind::Scram) if self.password.is_some() && self.scram_allowed() => {
                let scram = self.new_scram();
                frontend::sasl_initial_response("SCRAM-SHA-256", &scram.client_first(), out)
                    .map_err(|e| Error::encode(e.to_string()))?;
                self.state = State::ScramFirst(scram, true);
                Ok(false)
            }
            Some(AuthKind::Trust) => Ok(self.method_allowed(AuthMethod::None)),
            _ => Ok(false),
        }
    }

    /// Takes the salted password a [`Step::DeriveKey`] asked for and sends client-final.
    pub(crate) fn salted(&mut self, salted: [u8; 32], out: &mut BytesMut) -> Result<Step> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::ScramKey(mut s) => {
                let client_final = s.handle_salted_password(salted)?;
                self.send_final(s, &client_final, out)
            }
            _ => Err(salted_out_of_order()),
        }
    }

    fn send_final(
        &mut self,
        s: ScramSha256,
        client_final: &[u8],
        out: &mut BytesMut,
    ) -> Result<Step> {
        frontend::sasl_response(client_final, out).map_err(|e| Error::encode(e.to_string()))?;
        self.state = State::ScramFinal(s);
        Ok(Step::CredentialsSent)
    }

    /// Feeds one backend message received before AuthenticationOk.
    pub(crate) fn handle(&mut self, message: Message, out: &mut BytesMut) -> Result<Step> {
        let state = std::mem::replace(&mut self.state, State::Done);
        match (state, message) {
            (State::AwaitRequest | State::AwaitOk, Message::AuthenticationOk) => {
                if self.learned.method.is_none() {
                    if !self.method_allowed(AuthMethod::None) {
                        return Err(self.refused("no authentication"));
                    }
                    self.learned.method = Some(AuthKind::Trust);
                }
                Ok(Step::Authenticated(self.learned.clone()))
            }
            (State::AwaitRequest, Message::AuthenticationCleartextPassword) => {
                if !self.method_allowed(AuthMethod::Password) {
                    return Err(self.refused("a cleartext password"));
                }
                let password = self.password()?;
                frontend::password_message(password.as_bytes(), out)
                    .map_err(|_| Error::config("the password contains a NUL byte"))?;
                self.learned.method = Some(AuthKind::Cleartext);
                self.state = State::AwaitOk;
                Ok(Step::CredentialsSent)
            }
            (State::AwaitRequest, Message::AuthenticationMd5Password(body)) => {
                if !self.method_allowed(AuthMethod::Md5) {
                    return Err(self.refused("an MD5 password"));
                }
                let password = self.password()?;
                let hash = postgres_protocol::authentication::md5_hash(
                    self.user.as_bytes(),
                    password.as_bytes(),
                    body.salt(),
                );
                frontend::password_message(hash.as_bytes(), out)
                    .map_err(|e| Error::encode(e.to_string()))?;
                self.learned.method = Some(AuthKind::Md5);
                self.state = State::AwaitOk;
                Ok(Step::CredentialsSent)
            }
            (
                state @ (State::AwaitRequest | State::ScramFirst(..)),
                Message::AuthenticationSasl(body),
            ) => {
                let mut mechanisms = body.mechanisms();
                let mut scram = false;
                let mut plus = false;
                while let Some(m) = fallible_iterator::FallibleIterator::next(&mut mechanisms)
                    .map_err(|e| Error::protocol(format!("malformed SASL mechanism list: {e}")))?
                {
                    scram |= m == "SCRAM-SHA-256";
                    plus |= m == "SCRAM-SHA-256-PLUS";
                }
                if self.channel_binding == ChannelBinding::Require {
                    return Err(Error::new(
                        Kind::Unsupported,
                        "channel_binding=require needs SCRAM-SHA-256-PLUS, which edgepg cannot do \
                         over edge transports: use channel_binding=prefer (SCRAM-SHA-256 still \
                         proves both sides know the password)",
                    ));
                }
                if !scram {
                    let what = if plus {
                        "only SCRAM-SHA-256-PLUS"
                    } else {
                        "an unknown SASL mechanism"
                    };
                    return Err(Error::new(
                        Kind::Unsupported,
                        format!("the server offers {what}; edgepg supports SCRAM-SHA-256"),
                    ));
                }
                if !self.scram_allowed() {
                    return Err(self.refused("SCRAM-SHA-256"));
                }
                self.learned.method = Some(AuthKind::Scram);
                match state {
                    // The client-first message went out with the StartupMessage.
                    State::ScramFirst(s, early) => {
                        self.state = State::ScramFirst(s, early);
                        Ok(Step::Continue)
                    }
                    _ => {
                        self.password()?;
                        let s = self.new_scram();
                        frontend::sasl_initial_response("SCRAM-SHA-256", &s.client_first(), out)
                            .map_err(|e| Error::encode(e.to_string()))?;
                        self.state = State::ScramFirst(s, false);
                        Ok(Step::Continue)
                    }
                }
            }
            (State::ScramFirst(mut s, _), Message::AuthenticationSaslContinue(body)) => {
                match s.handle_server_first(body.data())? {
                    ServerFirst::Final(client_final) => self.send_final(s, &client_final, out),
                    ServerFirst::Derive(request) => {
                        self.state = State::ScramKey(s);
                        Ok(Step::DeriveKey(request))
                    }
                }
            }
            (State::ScramFinal(mut s), Message::AuthenticationSaslFinal(body)) => {
                let (keys, _) = s.handle_server_final(body.data())?;
                self.learned.scram_keys = Some(keys);
                self.state = State::AwaitOk;
                Ok(Step::Continue)
            }
            (
                State::ScramFirst(_, true),
                Message::AuthenticationOk
                | Message::AuthenticationCleartextPassword
                | Message::AuthenticationMd5Password(_),
            ) => Err(Error::new(
                Kind::Protocol,
                "the server no longer asks for SCRAM; reconnect without the learned method",
            )),
            (_, Message::AuthenticationKerberosV5)
            | (_, Message::AuthenticationScmCredential)
            | (_, Message::AuthenticationGss)
            | (_, Message::AuthenticationSspi)
            | (_, Message::AuthenticationGssContinue(_)) => Err(Error::new(
                Kind::Unsupported,
                "the server asks for Kerberos/GSSAPI/SSPI authentication, which edgepg does not \
                 support: configure password, md5 or scram-sha-256 for this role in pg_hba.conf",
            )),
            (_, Message::ParameterStatus(_)) => Err(Error::protocol(
                "ParameterStatus arrived before authentication completed",
            )),
            (_, _) => Err(Error::protocol(
                "the server sent an unexpected message during authentication",
            )),
        }
    }

    /// True when an early SCRAM message was sent on a hint the server then contradicted.
    pub(crate) fn used_hint(&self) -> bool {
        self.hints.method.is_some()
    }

    fn new_scram(&self) -> ScramSha256 {
        ScramSha256::new(
            self.password.as_deref().unwrap_or(""),
            &self.nonce,
            self.hints.scram_keys.clone(),
        )
    }

    fn password(&self) -> Result<&str> {
        self.password.as_deref().ok_or_else(|| {
            Error::new(
                Kind::Auth,
                "the server asks for a password and the connection string has none: add one \
                 (postgres://USER:PASSWORD@HOST/DB)",
            )
        })
    }

    fn scram_allowed(&self) -> bool {
        self.method_allowed(AuthMethod::ScramSha256)
    }

    fn method_allowed(&self, method: AuthMethod) -> bool {
        // libpq: channel_binding=require refuses every method that cannot bind the channel.
        if self.channel_binding == ChannelBinding::Require && method != AuthMethod::ScramSha256 {
            return false;
        }
        self.require_auth.is_empty() || self.require_auth.contains(&method)
    }

    fn refused(&self, what: &str) -> Error {
        Error::new(
            Kind::Auth,
            format!(
                "the server asked for {what}, which require_auth does not allow: connection \
                 aborted without sending the password"
            ),
        )
    }
}
