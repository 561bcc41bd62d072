//! A Rust Worker (workers-rs) using edgepg's isolate-scoped pool over `worker::Socket`.
//!
//! `GET /` runs a query; `GET /error` returns a clean JSON 500 with the SQLSTATE; `GET /stats`
//! shows the pool's counters. The pool is looked up per request with `Pool::shared`: equal
//! config gives the same pool, so learned auth and SCRAM keys are reused across requests,
//! while sockets (which Workers tie to one request) never cross requests.

use std::rc::Rc;

use edgepg::js::JsRuntime;
use edgepg::proto::{Request as PgRequest, Statement};
use edgepg::transport::workers::WorkersConnector;
use edgepg::{Config, Pool, PoolOptions};
use serde_json::json;
use worker::{Context, Env, Request, Response, Result, event};

fn pool(env: &Env) -> std::result::Result<Pool, edgepg::Error> {
    let url = env
        .var("DATABASE_URL")
        .map(|v| v.to_string())
        .unwrap_or_default();
    let config = Config::parse(&url)?;
    let mut options = PoolOptions::from_config(&config);
    // Workers: a socket belongs to its request, and requests never wait on each other.
    options.isolated_requests = true;
    Ok(Pool::shared(
        config,
        options,
        Rc::new(WorkersConnector),
        Rc::new(JsRuntime),
        "workers-rs",
    ))
}

fn failure(e: &edgepg::Error) -> Result<Response> {
    Ok(Response::from_json(&json!({ "error": e.message(), "code": e.code() }))?.with_status(500))
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let db = match pool(&env) {
        Ok(db) => db,
        Err(e) => return failure(&e),
    };
    let sql = match req.path().as_str() {
        "/error" => "SELECT 1/0",
        "/stats" => {
            let s = db.stats();
            return Response::from_json(&json!({
                "open": s.open, "idle": s.idle, "busy": s.busy, "created": s.created,
                "reused": s.reused, "discarded": s.discarded,
            }));
        }
        _ => "SELECT current_user::text, 6 * 7, now()::text",
    };
    match db.query(PgRequest::statement(Statement::new(sql))).await {
        Ok(results) => {
            let r = &results[0];
            let row: Vec<String> = (0..r.columns.len())
                .map(|i| r.value(0, i).map(|v| v.to_string()).unwrap_or_default())
                .collect();
            Response::from_json(&json!({ "runtime": "workers-rs", "row": row }))
        }
        Err(e) => failure(&e),
    }
}
