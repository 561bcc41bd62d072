//! The driver compiled to wasm, in real headless Chromium, over a real WebSocket through
//! `edgepg-proxy` → PgBouncer → Postgres with SCRAM. Run by `wasm-pack test --headless --chrome`
//! (scripts/test-browser.sh); the stack's URLs are compiled in from the environment.
#![cfg(target_arch = "wasm32")]

use std::rc::Rc;

use edgepg::js::{JsRuntime, UrlSource, WasmPool, WebSocketConnector};
use edgepg::proto::types::Value;
use edgepg::proto::{Request, Statement};
use edgepg::{Config, Pool, PoolOptions};
use futures_util::future::join_all;
use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const WS_URL: &str = env!("EDGEPG_WS_URL");
const BOUNCER: &str = env!("EDGEPG_URL_BOUNCER");
const DIRECT: &str = env!("EDGEPG_URL_SCRAM");

fn template() -> String {
    format!("{WS_URL}?address={{host}}:{{port}}")
}

fn pool(url: &str, max: usize) -> Pool {
    let connector = WebSocketConnector::new(UrlSource::Template(template()), None);
    Pool::new(
        Config::parse(url).unwrap(),
        PoolOptions {
            max,
            ..PoolOptions::default()
        },
        Rc::new(connector),
        Rc::new(JsRuntime),
    )
}

fn sql(text: &str) -> Request {
    Request::statement(Statement::new(text))
}

#[wasm_bindgen_test]
async fn scram_through_the_proxy_and_pgbouncer() {
    for url in [BOUNCER, DIRECT] {
        let p = pool(url, 2);
        let r = p.query(sql("SELECT current_user, 40 + 2")).await.unwrap();
        assert_eq!(
            r[0].value(0, 0).unwrap(),
            Value::Text("edgepg_scram".into())
        );
        assert_eq!(r[0].value(0, 1).unwrap(), Value::Int4(42));
        p.end().await;
    }
}

#[wasm_bindgen_test]
async fn types_errors_and_pipelines() {
    let p = pool(BOUNCER, 2);
    let r = p
        .query(sql(
            "SELECT 1.5::float8, 'x'::text, '\\x0102'::bytea, ARRAY[1,NULL]::int4[], now()",
        ))
        .await
        .unwrap();
    assert_eq!(r[0].value(0, 0).unwrap(), Value::Float8(1.5));
    assert_eq!(r[0].value(0, 2).unwrap(), Value::Bytea(vec![1, 2]));
    assert_eq!(r[0].value(0, 3).unwrap().to_string(), "{1,NULL}");
    let err = p.query(sql("SELECT 1/0")).await.unwrap_err();
    assert_eq!(err.code(), "22012");
    let batch = Request::Extended(vec![Statement::new("SELECT 1"), Statement::new("SELECT 2")]);
    let r = p.query(batch).await.unwrap();
    assert_eq!(r.len(), 2);
    p.end().await;
}

#[wasm_bindgen_test]
async fn transactions_roll_back_and_the_pool_reuses_connections() {
    let p = pool(BOUNCER, 3);
    p.query(sql("CREATE TABLE IF NOT EXISTS browser_t (v int)"))
        .await
        .unwrap();
    let mut tx = p.begin().await.unwrap();
    tx.query(sql("INSERT INTO browser_t VALUES (1)"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let queries = (0..30).map(|i| {
        let p = p.clone();
        async move { p.query(sql(&format!("SELECT {i}"))).await }
    });
    assert!(join_all(queries).await.iter().all(|r| r.is_ok()));
    let stats = p.stats();
    assert!(stats.created <= 3, "{stats:?}");
    assert_eq!(stats.busy, 0);
    p.end().await;
}

#[wasm_bindgen_test]
async fn the_js_surface_returns_rows_in_bulk() {
    let transport = Object::new();
    Reflect::set(&transport, &"kind".into(), &"websocket".into()).unwrap();
    Reflect::set(&transport, &"url".into(), &template().into()).unwrap();
    let options = Object::new();
    // Stands in for the TS layer's row builder: returns what it was given.
    let build = Function::new_with_args(
        "fields, text, bytes, arrayMode",
        "return [fields, text, bytes && Array.from(bytes), arrayMode]",
    );
    let pool = WasmPool::create(BOUNCER, &options, &transport, "browser-test", build).unwrap();
    let params = Array::of2(&JsValue::from_f64(7.0), &JsValue::from_str("it's"));
    let promise: Promise = pool.query(
        "SELECT $1::int AS n, $2::text AS s, 9007199254740993::int8 AS big, '\\x00ff'::bytea AS b"
            .into(),
        params,
        false,
        0.0,
    );
    let result: Array = JsFuture::from(promise).await.unwrap().into();
    // [head, part]: the head is the fields as a JSON line, then command and row count; the
    // part is what the builder made of the rows' values (then their count) and bytea bytes.
    let fields = concat!(
        r#"[{"name":"n","dataTypeID":23,"tableID":0,"columnID":0,"kind":0},"#,
        r#"{"name":"s","dataTypeID":25,"tableID":0,"columnID":0,"kind":0},"#,
        r#"{"name":"big","dataTypeID":20,"tableID":0,"columnID":0,"kind":1},"#,
        r#"{"name":"b","dataTypeID":17,"tableID":0,"columnID":0,"kind":3}]"#,
    );
    assert_eq!(result.length(), 2);
    assert_eq!(
        result.get(0).as_string().unwrap(),
        format!("{fields}\n{{\"command\":\"SELECT\",\"rowCount\":1}}")
    );
    let part: Array = result.get(1).into();
    assert_eq!(part.get(0).as_string().unwrap(), fields);
    assert_eq!(
        part.get(1).as_string().unwrap(),
        r#"[7,"it's","9007199254740993",2,1]"#
    );
    let bytes: Array = part.get(2).into();
    assert_eq!(bytes.to_vec(), [JsValue::from(0), JsValue::from(255)]);
    assert_eq!(part.get(3), JsValue::FALSE);
    // Without bytea a small result crosses as one text, its values in the head.
    let promise: Promise = pool.query("SELECT 1 AS one".into(), Array::new(), false, 0.0);
    let result: Array = JsFuture::from(promise).await.unwrap().into();
    assert_eq!(result.length(), 1);
    assert!(
        result
            .get(0)
            .as_string()
            .unwrap()
            .ends_with(r#"{"command":"SELECT","rowCount":1,"values":[1,1]}"#)
    );
    let err = JsFuture::from(pool.query("SELECT nope".into(), Array::new(), false, 0.0))
        .await
        .unwrap_err();
    assert_eq!(
        Reflect::get(&err, &"code".into())
            .unwrap()
            .as_string()
            .unwrap(),
        "42703"
    );
    assert_eq!(
        Reflect::get(&err, &"kind".into())
            .unwrap()
            .as_string()
            .unwrap(),
        "postgres"
    );
    JsFuture::from(pool.end()).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_refused_upstream_is_a_clean_error() {
    let connector = WebSocketConnector::new(
        UrlSource::Template(format!("{WS_URL}?address=127.0.0.1:9")),
        None,
    );
    let p = Pool::new(
        Config::parse(BOUNCER).unwrap(),
        PoolOptions::default(),
        Rc::new(connector),
        Rc::new(JsRuntime),
    );
    let err = p.query(sql("SELECT 1")).await.unwrap_err();
    assert!(err.is_closed() || err.code() == "refused", "{err:?}");
}
