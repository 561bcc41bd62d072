//! `edgepg-proxy`: relays WebSocket connections to Postgres over TCP (see `edgepg::proxy`).
//! This file is the thin shell: flags, the runtime, signals and exit codes.

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use edgepg::proxy::report::{log_line, timestamp_now};
use edgepg::proxy::{
    AllowList, DEFAULT_CONNECT_TIMEOUT, DEFAULT_LISTEN, DEFAULT_MAX_MESSAGE_SIZE, ProxyConfig,
    Upstream, serve,
};

const USAGE: &str = "\
edgepg-proxy: relays WebSocket connections to Postgres (or PgBouncer) over TCP. Raw Postgres
protocol bytes travel in binary frames both ways; the proxy adds no framing of its own.

Usage: edgepg-proxy [OPTIONS]

Options:
  --listen ADDR             address to listen on (default 127.0.0.1:58080; port 0 picks one)
  --upstream HOST:PORT      upstream for requests without ?address= (fixed-upstream mode);
                            always allowed
  --allow HOST:PORT[,...]   upstreams a request may name with ?address= (repeatable)
  --max-message-size SIZE   largest frame or message accepted from a client, in bytes or
                            with a K/KiB/M/MiB suffix (default 16MiB)
  --connect-timeout SECS    how long connecting to the upstream may take (default 10)
  -h, --help                print this help
  -V, --version             print the version

Requests:
  ws://LISTEN/v2?address=HOST:PORT   (Neon wsproxy convention; any path works; %3A is fine)
  ws://LISTEN/any/path               (with --upstream)
An upstream not on the allow list is refused with HTTP 403 before the upgrade; no or a
malformed address gets 400. Matching is exact on host:port after lowercasing the host, with
no DNS lookup: localhost:5432 and 127.0.0.1:5432 are different entries. Secure by default:
without --allow only the --upstream is reachable; with neither the proxy does not start.

Logs: one line per connection on stderr when it ends (client, upstream, bytes up/down,
duration, how it ended); never query contents, credentials or other URL parameters.
Exit status: 0 after SIGTERM/SIGINT (a second signal exits at once), 1 when the address
cannot be bound, 2 for bad arguments.
";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Command {
    Run(Options),
    Help,
    Version,
}

#[derive(Debug, PartialEq)]
struct Options {
    listen: String,
    upstream: Option<Upstream>,
    allow: AllowList,
    max_message_size: usize,
    connect_timeout: Duration,
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args_os().skip(1)) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("edgepg-proxy {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("edgepg-proxy: {message}\nRun `edgepg-proxy --help` for usage.");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("edgepg-proxy: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(run(options));
    runtime.shutdown_timeout(Duration::from_millis(200));
    code
}

async fn run(options: Options) -> ExitCode {
    let listener = match TcpListener::bind(&options.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("edgepg-proxy: cannot listen on {}: {e}", options.listen);
            return ExitCode::from(1);
        }
    };
    let signals = match Signals::install() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("edgepg-proxy: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| options.listen.clone());
    let mut config = ProxyConfig::new(options.upstream, options.allow);
    config.max_message_size = options.max_message_size;
    config.connect_timeout = options.connect_timeout;
    let allowed: Vec<String> = config.allow().iter().map(|u| u.to_string()).collect();
    log_line(format_args!(
        "{} edgepg-proxy: listening on {local} (pid {}); upstream={} allow={} \
         max-message-size={} connect-timeout={}s",
        timestamp_now(),
        std::process::id(),
        config
            .fixed_upstream()
            .map(|u| u.to_string())
            .unwrap_or_else(|| "-".into()),
        allowed.join(","),
        config.max_message_size,
        config.connect_timeout.as_secs_f64(),
    ));

    let (count_tx, count_rx) = watch::channel(0u32);
    tokio::spawn(signals.forward(count_tx));
    let mut first = count_rx.clone();
    let mut second = count_rx;
    let first_signal = async move {
        let _ = first.wait_for(|n| *n >= 1).await;
    };
    let ended = tokio::select! {
        () = serve(listener, config, first_signal) => "stopped",
        _ = second.wait_for(|n| *n >= 2) => "second signal: exiting now",
    };
    log_line(format_args!("{} edgepg-proxy: {ended}", timestamp_now()));
    ExitCode::SUCCESS
}

/// SIGTERM and SIGINT (Ctrl-C elsewhere than Unix), counted into a watch channel.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn forward(mut self, count: watch::Sender<u32>) {
        loop {
            let name = self.next().await;
            log_line(format_args!(
                "{} edgepg-proxy: {name}: no longer accepting connections",
                timestamp_now()
            ));
            count.send_modify(|n| *n += 1);
        }
    }

    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut options = Options {
        listen: DEFAULT_LISTEN.to_string(),
        upstream: None,
        allow: AllowList::default(),
        max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|a| format!("argument {a:?} is not valid UTF-8"))?;
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_string(), Some(value)),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match inline {
                Some(v) => Ok(v.to_string()),
                None => args
                    .next()
                    .and_then(|v| v.into_string().ok())
                    .ok_or_else(|| format!("{name} needs a value")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--listen" => options.listen = value("--listen")?,
            "--upstream" => {
                let text = value("--upstream")?;
                options.upstream = Some(parse_upstream(&text, "--upstream")?);
            }
            "--allow" => {
                for item in value("--allow")?.split(',').map(str::trim) {
                    if !item.is_empty() {
                        options.allow.insert(parse_upstream(item, "--allow")?);
                    }
                }
            }
            "--max-message-size" => {
                options.max_message_size = parse_size(&value("--max-message-size")?)?;
            }
            "--connect-timeout" => {
                options.connect_timeout = parse_seconds(&value("--connect-timeout")?)?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if options.upstream.is_none() && options.allow.is_empty() {
        return Err(
            "nothing to relay to: give --upstream HOST:PORT and/or --allow HOST:PORT \
             (the proxy is never an open relay)"
                .into(),
        );
    }
    Ok(Command::Run(options))
}

fn parse_upstream(text: &str, flag: &str) -> Result<Upstream, String> {
    Upstream::parse(text)
        .ok_or_else(|| format!("{flag} {text:?} is not HOST:PORT (IPv6 as [ADDR]:PORT)"))
}

/// Bytes, or with a K/KiB/M/MiB suffix (binary units); 1 KiB to 1 GiB.
fn parse_size(text: &str) -> Result<usize, String> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(digits_end);
    let unit: usize = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        _ => return Err(format!("--max-message-size {text:?}: unknown unit")),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|n| (1 << 10..=1 << 30).contains(n))
        .ok_or_else(|| format!("--max-message-size {text:?}: give 1KiB to 1024MiB"))
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("--connect-timeout {text:?}: give seconds, above 0, at most 3600"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(OsString::from))
    }

    fn run_options(args: &[&str]) -> Options {
        match parse(args) {
            Ok(Command::Run(o)) => o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_parse_in_both_forms() {
        let o = run_options(&[
            "--listen=0.0.0.0:1",
            "--allow",
            "127.0.0.1:56432, 127.0.0.1:55432",
            "--allow=DB:5432",
            "--max-message-size",
            "1MiB",
            "--connect-timeout=0.5",
        ]);
        assert_eq!(o.listen, "0.0.0.0:1");
        let allowed: Vec<String> = o.allow.iter().map(|u| u.to_string()).collect();
        assert_eq!(allowed, ["127.0.0.1:56432", "127.0.0.1:55432", "db:5432"]);
        assert_eq!(o.max_message_size, 1 << 20);
        assert_eq!(o.connect_timeout, Duration::from_millis(500));
        let o = run_options(&["--upstream", "127.0.0.1:56432"]);
        assert_eq!(o.listen, DEFAULT_LISTEN);
        assert_eq!(o.upstream, Upstream::parse("127.0.0.1:56432"));
        assert_eq!(o.max_message_size, DEFAULT_MAX_MESSAGE_SIZE);
    }

    #[test]
    fn help_version_and_errors() {
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        assert_eq!(parse(&["--allow", "h:1", "-V"]), Ok(Command::Version));
        for bad in [
            &[][..],
            &["--listen", "127.0.0.1:1"],
            &["--allow"],
            &["--allow", "nohost"],
            &["--upstream", "h:99999"],
            &["--upstream", "h:1", "--bogus"],
            &["--upstream", "h:1", "--max-message-size", "12"],
            &["--upstream", "h:1", "--max-message-size", "2G"],
            &["--upstream", "h:1", "--connect-timeout", "0"],
            &["--upstream", "h:1", "--connect-timeout", "nan"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert!(parse_size("1023").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999999999M").is_err());
    }
}
