//! Connecting to the real stack with every authentication method, and failing cleanly.

mod common;
#[path = "common/services.rs"]
mod services;

use common::*;
use edgepg::proto::{AuthKind, TransactionStatus};
use edgepg::transport::tcp::{TcpConnector, TokioRuntime};
use edgepg::{Client, ClientOptions, Config, PoolOptions};

#[test]
fn every_auth_method_connects_directly_and_through_pgbouncer() {
    run(async {
        for (var, user, method) in [
            ("EDGEPG_URL_TRUST", "edgepg_trust", AuthKind::Trust),
            (
                "EDGEPG_URL_PASSWORD",
                "edgepg_password",
                AuthKind::Cleartext,
            ),
            ("EDGEPG_URL_MD5", "edgepg_md5", AuthKind::Md5),
            ("EDGEPG_URL_SCRAM", "edgepg_scram", AuthKind::Scram),
            ("EDGEPG_URL_BOUNCER", "edgepg_scram", AuthKind::Scram),
        ] {
            let mut client = connect(&config(var))
                .await
                .unwrap_or_else(|e| panic!("{var}: {e}"));
            assert_eq!(
                scalar(&mut client, "SELECT current_user").await,
                user,
                "{var}"
            );
            assert_eq!(client.learned_hints().method, Some(method), "{var}");
            if method == AuthKind::Scram {
                assert!(client.learned_hints().scram_keys.is_some());
            }
            assert_eq!(client.transaction_status(), TransactionStatus::Idle);
            assert!(client.parameter("server_version").is_some());
            client.close().await;
        }
    });
}

#[test]
fn learned_hints_pipeline_the_handshake_and_still_work() {
    run(async {
        for var in [
            "EDGEPG_URL_SCRAM",
            "EDGEPG_URL_BOUNCER",
            "EDGEPG_URL_TRUST",
            "EDGEPG_URL_MD5",
        ] {
            let cfg = config(var);
            let first = connect(&cfg).await.unwrap();
            let hints = first.learned_hints().clone();
            first.close().await;
            // Second connection: startup (+ client-first) in one write, the query with the
            // final auth message.
            let options = ClientOptions {
                hints,
                ..ClientOptions::default()
            };
            let mut client = Client::open(&cfg, options, &TcpConnector, TokioRuntime::shared())
                .await
                .unwrap();
            let results = client
                .run(sql("SELECT 41 + 1"))
                .await
                .unwrap_or_else(|e| panic!("{var}: {e}"));
            assert_eq!(results[0].value(0, 0).unwrap().to_string(), "42");
            client.close().await;
        }
    });
}

#[test]
fn stale_scram_keys_are_rederived() {
    run(async {
        let cfg = config("EDGEPG_URL_SCRAM");
        let first = connect(&cfg).await.unwrap();
        let mut hints = first.learned_hints().clone();
        first.close().await;
        if let Some(keys) = hints.scram_keys.as_mut() {
            keys.client_key = [7; 32];
            keys.salt = b"not the salt".to_vec();
        }
        let options = ClientOptions {
            hints,
            ..ClientOptions::default()
        };
        let mut client = Client::open(&cfg, options, &TcpConnector, TokioRuntime::shared())
            .await
            .unwrap();
        client
            .ready()
            .await
            .expect("keys for another salt are not used");
        client.close().await;
    });
}

#[test]
fn wrong_password_is_a_clear_auth_error_without_the_password() {
    run(async {
        for var in [
            "EDGEPG_URL_PASSWORD",
            "EDGEPG_URL_MD5",
            "EDGEPG_URL_SCRAM",
            "EDGEPG_URL_BOUNCER",
        ] {
            let mut cfg = config(var);
            cfg.password = Some("Wr0ngPassw0rd-xyzzy".into());
            let err = connect(&cfg).await.expect_err(var);
            assert!(err.is_auth(), "{var}: {err:?}");
            // PgBouncer reports a failed SCRAM exchange as 08P01.
            let expected = if var.contains("BOUNCER") {
                "08P01"
            } else {
                "28P01"
            };
            assert_eq!(err.code(), expected, "{var}: {err:?}");
            let text = format!("{err} {err:?}");
            assert!(!text.contains("Wr0ngPassw0rd"), "{text}");
        }
    });
}

#[test]
fn missing_password_and_unknown_database() {
    run(async {
        let mut cfg = config("EDGEPG_URL_SCRAM");
        cfg.password = None;
        let err = connect(&cfg).await.unwrap_err();
        assert!(err.is_auth(), "{err:?}");
        assert!(err.message().contains("has none"), "{err}");

        let mut cfg = config("EDGEPG_URL_TRUST");
        cfg.database = "no_such_db".into();
        let err = connect(&cfg).await.unwrap_err();
        assert_eq!(err.code(), "3D000", "{err:?}");
    });
}

#[test]
fn require_auth_refuses_a_downgrade() {
    run(async {
        let url = url("EDGEPG_URL_PASSWORD");
        let cfg = Config::parse(&format!("{url}?require_auth=scram-sha-256")).unwrap();
        let err = connect(&cfg).await.unwrap_err();
        assert!(err.is_auth(), "{err:?}");
        assert!(err.message().contains("require_auth"), "{err}");
        let cfg = Config::parse(&format!("{url}?channel_binding=require")).unwrap();
        assert!(connect(&cfg).await.is_err());
    });
}

#[test]
fn unreachable_host_and_closed_port_fail_fast() {
    run(async {
        let cfg = Config::parse("postgres://u:p@127.0.0.1:1/db").unwrap();
        let err = connect(&cfg).await.unwrap_err();
        assert_eq!(err.code(), "refused", "{err:?}");
        assert!(!format!("{err}").contains(":p@"));
    });
}

#[test]
fn sslmode_require_over_a_plain_transport_is_refused() {
    run(async {
        let cfg = Config::parse(&format!("{}?sslmode=require", url("EDGEPG_URL_TRUST"))).unwrap();
        let err = connect(&cfg).await.unwrap_err();
        assert_eq!(err.code(), "tls", "{err:?}");
    });
}

#[test]
fn a_silent_server_hits_connect_timeout() {
    run(async {
        // Accepts TCP and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = tokio::task::spawn_local(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let cfg = Config::parse(&format!(
            "postgres://u:p@127.0.0.1:{port}/db?connect_timeout=0.5"
        ))
        .unwrap();
        let started = std::time::Instant::now();
        let err = connect(&cfg).await.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert!(started.elapsed().as_secs() < 5);
        hold.abort();
    });
}

#[test]
fn startup_parameters_are_sent_in_the_form_the_server_reports() {
    // PgBouncer compares each tracked parameter the client sent with the server connection's
    // reported value and re-sends a SET before every transaction when they differ: what edgepg
    // sends must be exactly what Postgres reports back.
    run(async {
        for var in DIRECT_AND_BOUNCER {
            let c = connect(&config(var)).await.unwrap();
            assert_eq!(c.parameter("DateStyle"), Some("ISO, MDY"), "{var}");
            assert_eq!(c.parameter("client_encoding"), Some("UTF8"), "{var}");
            c.close().await;
        }
    });
}

#[test]
fn a_pool_follows_the_server_when_its_auth_method_changes() {
    // What a pool learned (the auth method, to pipeline the handshake) can go stale: an
    // administrator moves a role from trust to SCRAM, or from SCRAM to MD5. The next new
    // connection's pipelined handshake is refused; the pool forgets what it learned and
    // retries once, so neither a query nor a transaction's first statement fails.
    let cluster = services::Cluster::start("learned_auth");
    cluster.admin(
        "DROP ROLE IF EXISTS hinted; SET password_encryption = 'scram-sha-256'; \
         CREATE ROLE hinted LOGIN PASSWORD 'hinted_pw'",
    );
    cluster.set_hba("host all hinted 127.0.0.1/32 trust");
    let config = Config::parse(&format!(
        "postgres://hinted:hinted_pw@127.0.0.1:{}/postgres?sslmode=disable",
        cluster.port
    ))
    .unwrap();
    run(async {
        let pool = pool(
            config,
            PoolOptions {
                max: 1,
                idle_timeout: std::time::Duration::from_millis(100),
                ..Default::default()
            },
        );
        let idle_out = || tokio::time::sleep(std::time::Duration::from_millis(400));
        pool.query(sql("SELECT 1")).await.expect("trust");
        // Learned: trust. Now SCRAM; the next connection pipelines its query after the
        // StartupMessage and the server refuses it (08P01).
        cluster.set_hba("host all hinted 127.0.0.1/32 scram-sha-256");
        idle_out().await;
        let mut tx = pool.begin().await.unwrap();
        let r = tx
            .query(sql("SELECT 2"))
            .await
            .expect("a transaction's first statement");
        assert_eq!(r[0].rows.len(), 1);
        tx.commit().await.unwrap();
        // Learned: SCRAM. Now MD5; the next connection's early SCRAM message is refused.
        cluster.admin("SET password_encryption = 'md5'; ALTER ROLE hinted PASSWORD 'hinted_pw'");
        cluster.set_hba("host all hinted 127.0.0.1/32 md5");
        idle_out().await;
        pool.query(sql("SELECT 1")).await.expect("a query");
        // And the pool keeps working with what it learned anew.
        idle_out().await;
        pool.query(sql("SELECT 1")).await.expect("md5, learned");
        let stats = pool.stats();
        assert_eq!(stats.timeouts, 0);
        assert!(stats.created >= 5, "{stats:?}");
        pool.end().await;
    });
}
