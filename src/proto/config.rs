//! Connection configuration: `postgres://` URLs and libpq `key=value` strings.
//!
//! Parse, don't validate: a [`Config`] exists only if the string parsed. Errors name the
//! component that failed and never echo the password (nor the whole string, which may hold it).

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};

/// A parsed connection configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port (default 5432).
    pub port: u16,
    /// Role name.
    pub user: String,
    /// Password, if any.
    pub password: Option<String>,
    /// Database name (default: the user name).
    pub database: String,
    /// `application_name` sent at startup.
    pub application_name: Option<String>,
    /// `options` sent at startup (command-line options for the backend, e.g. `-c search_path=x`).
    pub options: Option<String>,
    /// libpq `sslmode`.
    pub ssl_mode: SslMode,
    /// libpq `channel_binding`.
    pub channel_binding: ChannelBinding,
    /// Authentication methods the client accepts (libpq `require_auth`); empty = any.
    pub require_auth: Vec<AuthMethod>,
    /// Deadline for connect + authentication.
    pub connect_timeout: Option<Duration>,
    /// Pool settings given in the string (`pool_max`, `idle_timeout`, …).
    pub pool: PoolParams,
}

/// Pool settings that a connection string may carry, so one `DATABASE_URL` configures a
/// deployment. `None` means "use the pool's default or the option passed in code".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolParams {
    /// `pool_max`: the most connections open at once.
    pub max: Option<usize>,
    /// `idle_timeout` (seconds): close connections idle this long.
    pub idle_timeout: Option<Duration>,
    /// `acquire_timeout` (seconds): how long a caller waits for a connection.
    pub acquire_timeout: Option<Duration>,
    /// `max_lifetime` (seconds): retire connections older than this.
    pub max_lifetime: Option<Duration>,
    /// `query_timeout` (seconds): deadline for one request's response.
    pub query_timeout: Option<Duration>,
    /// `statement_cache`: named prepared statements kept per connection (direct connections
    /// only; 0 turns the cache off).
    pub statement_cache: Option<usize>,
}

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Never use TLS.
    Disable,
    /// Plain first; libpq's `allow`, treated as `disable` (edgepg does not retry with TLS).
    Allow,
    /// Use TLS when the transport and the server can; plain otherwise (the default).
    Prefer,
    /// TLS or fail; the certificate chain is still verified by the runtime's TLS stack.
    Require,
    /// TLS with a verified certificate chain.
    VerifyCa,
    /// TLS with a verified chain and host name.
    VerifyFull,
}

/// libpq's `channel_binding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelBinding {
    /// Never use channel binding.
    Disable,
    /// Use it when available (edgepg cannot, so this is SCRAM-SHA-256 without binding).
    Prefer,
    /// Require SCRAM-SHA-256-PLUS; connections fail where it cannot be done.
    Require,
}

/// An authentication method, as named by libpq's `require_auth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// Cleartext password.
    Password,
    /// MD5 password.
    Md5,
    /// SCRAM-SHA-256.
    ScramSha256,
    /// No authentication (`trust`).
    None,
}

impl Config {
    /// Parses a `postgres://` / `postgresql://` URL or a libpq `key=value` string.
    pub fn parse(s: &str) -> Result<Config> {
        let s = s.trim();
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            parse_url(s)
        } else if s.contains("://") {
            Err(Error::config(
                "unsupported connection string scheme: use postgres:// or postgresql://",
            ))
        } else {
            parse_key_value(s)
        }
    }

    /// True when SSL must be used (`require`, `verify-ca`, `verify-full`).
    pub fn ssl_required(&self) -> bool {
        matches!(
            self.ssl_mode,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    }

    /// A key identifying this configuration: equal configs give equal keys. Holds the password,
    /// so it is for in-memory maps only and must never be printed.
    pub fn cache_key(&self) -> String {
        format!(
            "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}",
            self.host,
            self.port,
            self.user,
            self.database,
            self.password.as_deref().unwrap_or("\u{1}"),
            self.application_name,
            self.options,
            self.ssl_mode,
            self.channel_binding,
            self.require_auth,
            self.connect_timeout,
            self.pool,
        )
    }

    /// The address to show in logs and errors: `host:port/database` as `user`, no password.
    pub fn display_target(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}/{}", self.host, self.port, self.database)
        } else {
            format!("{}:{}/{}", self.host, self.port, self.database)
        }
    }

    fn empty() -> Config {
        Config {
            host: String::from("localhost"),
            port: 5432,
            user: String::new(),
            password: None,
            database: String::new(),
            application_name: None,
            options: None,
            ssl_mode: SslMode::Prefer,
            channel_binding: ChannelBinding::Prefer,
            require_auth: Vec::new(),
            connect_timeout: None,
            pool: PoolParams::default(),
        }
    }

    fn finish(mut self) -> Result<Config> {
        if self.user.is_empty() {
            return Err(Error::config(
                "the connection string names no user: add one (postgres://USER:PASSWORD@HOST/DB)",
            ));
        }
        if self.database.is_empty() {
            self.database = self.user.clone();
        }
        if self.host.is_empty() {
            self.host = String::from("localhost");
        }
        Ok(self)
    }

    /// Applies one `key=value` parameter (from a URL query or a libpq string).
    /// `after_password`: the previous parameter was `password`, so an unknown key here is
    /// likely the rest of the password (see [`stray_word`]).
    fn set(&mut self, key: &str, value: String, after_password: bool) -> Result<()> {
        match key {
            "host" => {
                if value.starts_with('/') {
                    return Err(Error::config(
                        "unix-domain sockets are not supported: give a TCP host name or address",
                    ));
                }
                if value.contains(',') {
                    return Err(Error::config(
                        "multiple hosts are not supported: give one host",
                    ));
                }
                self.host = value;
            }
            "hostaddr" => self.host = value,
            "port" => self.port = parse_port(&value)?,
            "user" => self.user = value,
            "password" => self.password = Some(value),
            "dbname" => self.database = value,
            "application_name" | "fallback_application_name" => {
                if key == "application_name" || self.application_name.is_none() {
                    self.application_name = Some(value);
                }
            }
            "options" => self.options = Some(value),
            "sslmode" => {
                self.ssl_mode = match value.as_str() {
                    "disable" => SslMode::Disable,
                    "allow" => SslMode::Allow,
                    "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    _ => {
                        return Err(Error::config(format!(
                            "invalid sslmode {value:?}: use disable, allow, prefer, require, verify-ca or verify-full"
                        )));
                    }
                }
            }
            "channel_binding" => {
                self.channel_binding = match value.as_str() {
                    "disable" => ChannelBinding::Disable,
                    "prefer" => ChannelBinding::Prefer,
                    "require" => ChannelBinding::Require,
                    _ => {
                        return Err(Error::config(format!(
                            "invalid channel_binding {value:?}: use disable, prefer or require"
                        )));
                    }
                }
            }
            "require_auth" => {
                self.require_auth = value
                    .split(',')
                    .map(|m| match m.trim() {
                        "password" => Ok(AuthMethod::Password),
                        "md5" => Ok(AuthMethod::Md5),
                        "scram-sha-256" => Ok(AuthMethod::ScramSha256),
                        "none" => Ok(AuthMethod::None),
                        other => Err(Error::config(format!(
                            "invalid require_auth method {other:?}: use password, md5, scram-sha-256 or none"
                        ))),
                    })
                    .collect::<Result<_>>()?;
            }
            "connect_timeout" => self.connect_timeout = parse_seconds(key, &value)?,
            "pool_max" | "max" => {
                let n: usize = value.parse().map_err(|_| {
                    Error::config(format!("invalid {key} {value:?}: use a whole number ≥ 1"))
                })?;
                if n == 0 {
                    return Err(Error::config(format!("invalid {key} 0: use a number ≥ 1")));
                }
                self.pool.max = Some(n);
            }
            "idle_timeout" => self.pool.idle_timeout = parse_seconds(key, &value)?,
            "acquire_timeout" => self.pool.acquire_timeout = parse_seconds(key, &value)?,
            "max_lifetime" => self.pool.max_lifetime = parse_seconds(key, &value)?,
            "query_timeout" => self.pool.query_timeout = parse_seconds(key, &value)?,
            "statement_cache" => {
                let n: usize = value.parse().ok().filter(|n| *n <= 10_000).ok_or_else(|| {
                    Error::config(format!(
                        "invalid statement_cache {value:?}: use a number from 0 to 10000"
                    ))
                })?;
                self.pool.statement_cache = Some(n);
            }
            // Accepted libpq parameters with no meaning on edge transports.
            "target_session_attrs" if value == "any" || value == "read-write" => {}
            "client_encoding" if value.eq_ignore_ascii_case("utf8") => {}
            "gssencmode" if value == "disable" || value == "prefer" => {}
            "keepalives"
            | "keepalives_idle"
            | "keepalives_interval"
            | "keepalives_count"
            | "tcp_user_timeout"
            | "sslcompression" => {}
            _ if after_password || !plausible_name(key) => {
                return Err(stray_word(after_password));
            }
            _ => {
                return Err(Error::config(format!(
                    "unknown connection parameter {key:?}: edgepg accepts host, port, user, \
                     password, dbname, application_name, options, sslmode, channel_binding, \
                     require_auth, connect_timeout, pool_max, idle_timeout, acquire_timeout, \
                     max_lifetime, query_timeout, statement_cache (pass server settings with \
                     options=-c name=value)"
                )));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("database", &self.database)
            .field("application_name", &self.application_name)
            .field("options", &self.options)
            .field("ssl_mode", &self.ssl_mode)
            .field("channel_binding", &self.channel_binding)
            .field("require_auth", &self.require_auth)
            .field("connect_timeout", &self.connect_timeout)
            .field("pool", &self.pool)
            .finish()
    }
}

impl std::str::FromStr for Config {
    type Err = Error;
    fn from_str(s: &str) -> Result<Config> {
        Config::parse(s)
    }
}

fn parse_url(s: &str) -> Result<Config> {
    parse_url_parts(s).map_err(|e| {
        if userinfo_may_be_split(s) {
            Error::config(
                "the connection string cannot be read: percent-encode / ? # @ in the user name \
                 or password (%2F %3F %23 %40)",
            )
        } else {
            e
        }
    })
}

/// True when `@` appears only after the first `/`, `?` or `#` following the scheme: a user
/// name or password holding one of those unencoded moved the host part, and an error about
/// the "host" or "port" would show a piece of the password.
fn userinfo_may_be_split(s: &str) -> bool {
    let rest = s.split_once("://").map_or(s, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    !rest[..end].contains('@') && rest[end..].contains('@')
}

fn parse_url_parts(s: &str) -> Result<Config> {
    let rest = s
        .strip_prefix("postgresql://")
        .or_else(|| s.strip_prefix("postgres://"))
        .ok_or_else(|| Error::config("expected postgres:// or postgresql://"))?;
    let rest = match rest.find('#') {
        Some(i) => &rest[..i],
        None => rest,
    };
    let (before_query, query) = match rest.find('?') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], Some(&before_query[i + 1..])),
        None => (before_query, None),
    };
    let mut config = Config::empty();

    let host_port = match authority.rfind('@') {
        Some(i) => {
            let userinfo = &authority[..i];
            match userinfo.find(':') {
                Some(j) => {
                    config.user = percent_decode(&userinfo[..j], "user name")?;
                    config.password = Some(percent_decode(&userinfo[j + 1..], "password")?);
                }
                None => config.user = percent_decode(userinfo, "user name")?,
            }
            &authority[i + 1..]
        }
        None => authority,
    };

    if let Some(inner) = host_port.strip_prefix('[') {
        let end = inner
            .find(']')
            .ok_or_else(|| Error::config("IPv6 host is missing its closing ']'"))?;
        config.host = inner[..end].to_string();
        let after = &inner[end + 1..];
        if let Some(port) = after.strip_prefix(':') {
            config.port = parse_port(port)?;
        } else if !after.is_empty() {
            return Err(Error::config("unexpected characters after the IPv6 host"));
        }
    } else {
        if host_port.contains(',') {
            return Err(Error::config(
                "multiple hosts are not supported: give one host",
            ));
        }
        match host_port.rfind(':') {
            Some(i) => {
                config.host = percent_decode(&host_port[..i], "host")?;
                config.port = parse_port(&host_port[i + 1..])?;
            }
            None => config.host = percent_decode(host_port, "host")?,
        }
    }
    if config.host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(Error::config("the host name contains invalid characters"));
    }
    if let Some(path) = path
        && !path.is_empty()
    {
        config.database = percent_decode(path, "database name")?;
    }
    if let Some(query) = query {
        let mut after_password = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = match pair.find('=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => return Err(no_value(pair, after_password)),
            };
            let key = percent_decode(key, "parameter name")?;
            let value = percent_decode(value, "parameter value")?;
            config.set(&key, value, after_password)?;
            after_password = key == "password";
        }
    }
    config.finish()
}

fn parse_key_value(s: &str) -> Result<Config> {
    let mut config = Config::empty();
    let mut chars = s.chars().peekable();
    let mut after_password = false;
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(no_value(&key, after_password));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => {
                            return Err(Error::config(format!(
                                "unterminated quoted value for {key:?}"
                            )));
                        }
                    },
                    Some(c) => value.push(c),
                    None => {
                        return Err(Error::config(format!(
                            "unterminated quoted value for {key:?}"
                        )));
                    }
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    match chars.next() {
                        Some(e) => value.push(e),
                        None => break,
                    }
                } else {
                    value.push(c);
                }
            }
        }
        config.set(&key, value, after_password)?;
        after_password = key == "password";
    }
    config.finish()
}

/// The error for a word without `=`; it is named only when it looks like a parameter name.
fn no_value(word: &str, after_password: bool) -> Error {
    if after_password || !plausible_name(word) {
        return stray_word(after_password);
    }
    Error::config(format!(
        "connection parameter {:?} has no value: write key=value",
        truncate(word)
    ))
}

/// A word that is not a known `key=value` pair and is not shown: right after `password=` it
/// is most likely the rest of a password cut at an unquoted space (key=value) or an
/// unencoded `&` (URL); with punctuation in it, it may be a mistyped URL with its password.
fn stray_word(after_password: bool) -> Error {
    if after_password {
        Error::config(
            "the text after password= is malformed: quote a password that holds spaces \
             (password='a b'), and percent-encode & in a URL password (%26)",
        )
    } else {
        Error::config(
            "the connection string has a word that is not key=value (not shown: it may hold a \
             password): write key=value pairs, or a URL starting with postgres://",
        )
    }
}

/// Letters, digits and `_`: what a parameter name is made of, safe to echo.
fn plausible_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn parse_port(s: &str) -> Result<u16> {
    match s.parse::<u16>() {
        Ok(0) | Err(_) => Err(Error::config(format!(
            "invalid port {:?}: use a number from 1 to 65535",
            truncate(s)
        ))),
        Ok(p) => Ok(p),
    }
}

/// A number of seconds, `10` or `0.5` (to the nanosecond), from 0 to 1e9; 0 (libpq: wait
/// forever) is `None`. Read exactly, digit by digit: no float parsing.
fn parse_seconds(key: &str, value: &str) -> Result<Option<Duration>> {
    let invalid = || {
        Error::config(format!(
            "invalid {key} {:?}: use a number of seconds from 0 to 1e9, such as 10 or 0.5",
            truncate(value)
        ))
    };
    let text = value.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return Err(invalid());
    }
    let secs = match whole {
        "" => 0,
        _ => whole.parse::<u64>().map_err(|_| invalid())?,
    };
    // The first nine digits of the fraction are the nanoseconds.
    let nanos = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(9)
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    // Capped first: `Duration::new` panics when the nanoseconds carry past u64::MAX seconds.
    let duration = Duration::new(secs.min(u64::MAX / 2), nanos);
    if duration > Duration::from_secs(1_000_000_000) {
        return Err(invalid());
    }
    Ok((!duration.is_zero()).then_some(duration))
}

/// Percent-decodes one URL component; `what` names it in errors (never its value, which may be
/// a password).
fn percent_decode(s: &str, what: &str) -> Result<String> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    Error::config(format!(
                        "invalid percent-encoding in the {what}: '%' must be followed by two hex digits (write %25 for a literal %)"
                    ))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| {
        Error::config(format!(
            "the {what} is not valid UTF-8 after percent-decoding"
        ))
    })
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url() {
        let c = Config::parse(
            "postgres://al%40ice:p%3Ass@db.example.com:6543/my%20db?sslmode=require&application_name=app&connect_timeout=5&options=-c%20search_path%3Dx",
        )
        .unwrap();
        assert_eq!(c.user, "al@ice");
        assert_eq!(c.password.as_deref(), Some("p:ss"));
        assert_eq!(c.host, "db.example.com");
        assert_eq!(c.port, 6543);
        assert_eq!(c.database, "my db");
        assert_eq!(c.ssl_mode, SslMode::Require);
        assert_eq!(c.application_name.as_deref(), Some("app"));
        assert_eq!(c.connect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(c.options.as_deref(), Some("-c search_path=x"));
    }

    #[test]
    fn defaults() {
        let c = Config::parse("postgresql://bob@localhost").unwrap();
        assert_eq!(c.port, 5432);
        assert_eq!(c.database, "bob");
        assert_eq!(c.password, None);
        assert_eq!(c.ssl_mode, SslMode::Prefer);
    }

    #[test]
    fn ipv6_hosts() {
        let c = Config::parse("postgres://u:p@[::1]:5433/db").unwrap();
        assert_eq!(c.host, "::1");
        assert_eq!(c.port, 5433);
        let c = Config::parse("postgres://u@[2001:db8::2]/db").unwrap();
        assert_eq!(c.host, "2001:db8::2");
        assert_eq!(c.port, 5432);
        assert_eq!(c.display_target(), "[2001:db8::2]:5432/db");
        assert!(Config::parse("postgres://u@[::1/db").is_err());
    }

    #[test]
    fn pool_params() {
        let c = Config::parse(
            "postgres://u@h/d?pool_max=7&idle_timeout=1.5&acquire_timeout=2&max_lifetime=60",
        )
        .unwrap();
        assert_eq!(c.pool.max, Some(7));
        assert_eq!(c.pool.idle_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(c.pool.acquire_timeout, Some(Duration::from_secs(2)));
        assert_eq!(c.pool.max_lifetime, Some(Duration::from_secs(60)));
        assert!(Config::parse("postgres://u@h/d?pool_max=0").is_err());
    }

    #[test]
    fn key_value() {
        let c = Config::parse(
            "host=127.0.0.1 port=55432 user=edgepg password='it''s \\'quoted\\' x' dbname = test sslmode=disable",
        );
        // '' is not an escape in libpq: the value ends at the second quote.
        assert!(c.is_err());
        let c = Config::parse(
            "host=127.0.0.1 port=55432 user=edgepg password='a \\'b\\' c' dbname = test sslmode=disable",
        )
        .unwrap();
        assert_eq!(c.host, "127.0.0.1");
        assert_eq!(c.port, 55432);
        assert_eq!(c.password.as_deref(), Some("a 'b' c"));
        assert_eq!(c.database, "test");
        assert_eq!(c.ssl_mode, SslMode::Disable);
    }

    #[test]
    fn errors_never_echo_the_password() {
        let secret = "hunter2secret";
        let cases = [
            format!("postgres://u:{secret}@h:99999/db"),
            format!("postgres://u:{secret}@h:port/db"),
            format!("postgres://u:{secret}%zz@h/db"),
            format!("postgres://u:{secret}@h/db?sslmode=bogus"),
            format!("postgres://u:{secret}@h/db?frobnicate=1"),
            format!("postgres://u:{secret}@h/db?novalue"),
            format!("mysql://u:{secret}@h/db"),
            format!("postgres://:{secret}@h/db"),
            format!("user=u password={secret} port=x"),
            format!("user=u password='{secret}"),
            format!("postgres://u:{secret}@h1,h2/db"),
            format!("postgres://u:{secret}@[::1/db"),
        ];
        for case in cases {
            let err = Config::parse(&case).expect_err(&case);
            assert!(err.is_config());
            let text = format!("{err} {err:?}");
            assert!(!text.contains(secret), "{text}");
        }
    }

    #[test]
    fn debug_redacts_password() {
        let c = Config::parse("postgres://u:topsecret@h/db").unwrap();
        assert!(!format!("{c:?}").contains("topsecret"));
    }

    #[test]
    fn equal_configs_equal_keys() {
        let a = Config::parse("postgres://u:p@h:5432/db").unwrap();
        let b = Config::parse("host=h user=u password=p dbname=db").unwrap();
        assert_eq!(a.cache_key(), b.cache_key());
        let c = Config::parse("postgres://u:q@h:5432/db").unwrap();
        assert_ne!(a.cache_key(), c.cache_key());
    }

    #[test]
    fn rejects_unix_sockets_and_bad_values() {
        assert!(Config::parse("postgres://u@h/db?host=/tmp").is_err());
        assert!(Config::parse("postgres://u@h/db?connect_timeout=-1").is_err());
        let timeout = |v: &str| Config::parse(&format!("postgres://u@h/db?connect_timeout={v}"));
        for (text, want) in [
            ("10", Some(Duration::from_secs(10))),
            (" 0.5 ", Some(Duration::from_millis(500))),
            (".25", Some(Duration::from_millis(250))),
            ("2.", Some(Duration::from_secs(2))),
            ("0.0000000019", Some(Duration::from_nanos(1))),
            ("1000000000", Some(Duration::from_secs(1_000_000_000))),
            ("0", None),
            ("0.000", None),
        ] {
            assert_eq!(timeout(text).unwrap().connect_timeout, want, "{text:?}");
        }
        for text in [
            "",
            ".",
            "1e3",
            "+1",
            "1.2.3",
            "1000000000.1",
            "99999999999999999999",
            "inf",
        ] {
            let e = timeout(text).unwrap_err();
            assert!(e.message().contains("connect_timeout"), "{text:?}: {e}");
        }
        assert!(Config::parse("postgres://u@h/db?require_auth=kerberos").is_err());
        assert!(Config::parse("postgres://u@h:0/db").is_err());
        let c = Config::parse("postgres://u@h/db?require_auth=scram-sha-256").unwrap();
        assert_eq!(c.require_auth, vec![AuthMethod::ScramSha256]);
    }
}
