//! Private services for tests that stop, crash or reconfigure a server: the shared stack, which
//! other suites use concurrently, is never disturbed. Started by the same commands
//! scripts/stack.sh uses, as the stack user when root.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use edgepg::Config;

use crate::common::psql_at;

/// Runs `program args` as the stack user when root (setpriv, as scripts/stack.sh does).
pub fn as_stack_user(program: &Path, args: &[&str]) -> Command {
    let user = std::env::var("EDGEPG_STACK_USER").unwrap_or_else(|_| "postgres".into());
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={user}"),
            &format!("--regid={user}"),
            "--init-groups",
            "--",
        ]);
        c.arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args).current_dir("/");
    cmd
}

pub fn chown_to_stack_user(path: &Path) {
    let user = std::env::var("EDGEPG_STACK_USER").unwrap_or_else(|_| "postgres".into());
    let _ = Command::new("chown")
        .arg("-R")
        .arg(format!("{user}:"))
        .arg(path)
        .status();
}

/// Alive and not a zombie (daemons are reaped late by PID 1 here).
pub fn proc_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|r| r.trim_start().chars().next()))
        .flatten()
        .is_some_and(|state| state != 'Z' && state != 'X')
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub fn private_dir(name: &str) -> PathBuf {
    let base = std::env::var("EDGEPG_STACK_DIR").unwrap_or_else(|_| "/tmp/edgepg-stack".into());
    let dir = PathBuf::from(format!("{base}-faults")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let _ = Command::new("chmod")
        .arg("755")
        .arg(dir.parent().unwrap())
        .status();
    dir
}

pub fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("EDGEPG_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    let fifteen = PathBuf::from("/usr/lib/postgresql/15/bin");
    if fifteen.join("initdb").exists() {
        return fifteen;
    }
    found
        .pop()
        .expect("PostgreSQL binaries under /usr/lib/postgresql")
}

/// A small private Postgres cluster (in its own directory `name`, started fresh per run): synchronous_commit on (so a crash cannot lose an
/// acknowledged commit), restart_after_crash on, max_connections 8 (5 for normal roles).
pub struct Cluster {
    pub dir: PathBuf,
    pub port: u16,
}

impl Cluster {
    pub fn start(name: &str) -> Cluster {
        let dir = private_dir(name);
        let bin = pg_bin();
        let data = dir.join("data");
        let c = Cluster {
            dir: dir.clone(),
            port: free_port(),
        };
        c.stop();
        if !data.join("PG_VERSION").exists() {
            let _ = std::fs::remove_dir_all(&data);
            chown_to_stack_user(&dir);
            let out = as_stack_user(
                &bin.join("initdb"),
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
            )
            .output()
            .expect("initdb runs");
            assert!(
                out.status.success(),
                "initdb: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c max_connections=8 -c superuser_reserved_connections=3 -c fsync=off \
             -c synchronous_commit=on -c full_page_writes=off -c restart_after_crash=on",
            c.port,
            dir.display()
        );
        let log = dir.join("postgres.log");
        let out = as_stack_user(
            &bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .output()
        .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl start: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        c.admin(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'faults') THEN \
             CREATE ROLE faults LOGIN; END IF; END $$; GRANT ALL ON SCHEMA public TO faults",
        );
        c
    }

    pub fn admin_url(&self) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{}/postgres?application_name=faults_admin",
            self.port
        )
    }

    pub fn admin(&self, sql: &str) -> String {
        psql_at(&self.admin_url(), sql)
    }

    /// Replaces pg_hba.conf with `rules` (after a line keeping the admin's trust) and has the
    /// server reload it: later connections follow the new rules.
    pub fn set_hba(&self, rules: &str) {
        let path = self.dir.join("data").join("pg_hba.conf");
        let content =
            format!("local all all trust\nhost all postgres 127.0.0.1/32 trust\n{rules}\n");
        std::fs::write(&path, content).expect("pg_hba.conf is writable");
        assert_eq!(self.admin("SELECT pg_reload_conf()"), "t");
    }

    pub fn config(&self, app: &str) -> Config {
        Config::parse(&format!(
            "postgres://faults@127.0.0.1:{}/postgres?sslmode=disable&application_name={app}",
            self.port
        ))
        .unwrap()
    }

    pub fn stop(&self) {
        let data = self.dir.join("data");
        if data.join("postmaster.pid").exists() {
            let _ = as_stack_user(
                &pg_bin().join("pg_ctl"),
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        }
    }
}

pub fn pg_ready(port: u16) -> bool {
    Command::new(pg_bin().join("pg_isready"))
        .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string(), "-t", "1"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
