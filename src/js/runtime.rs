//! The runtime services on wasm: `Date.now()`, `setTimeout` (housekeeping timers `unref`'d
//! where the host has it, so a pool's idle timer never keeps Node alive), `spawn_local`,
//! `crypto.getRandomValues`, and SCRAM's PBKDF2 through WebCrypto (`crypto.subtle`) after
//! SASLprep with `String.prototype.normalize`.

use futures_util::future::LocalBoxFuture;
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::{Error, Kind, Result};
use crate::proto::KeyRequest;
use crate::transport::Runtime;

/// The wasm runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsRuntime;

impl Runtime for JsRuntime {
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    fn sleep(&self, ms: u64) -> LocalBoxFuture<'static, ()> {
        timer(ms, false)
    }

    fn sleep_background(&self, ms: u64) -> LocalBoxFuture<'static, ()> {
        timer(ms, true)
    }

    fn spawn(&self, task: LocalBoxFuture<'static, ()>) {
        wasm_bindgen_futures::spawn_local(task);
    }

    fn pbkdf2(&self, mut request: KeyRequest) -> LocalBoxFuture<'static, [u8; 32]> {
        // SASLprep's NFKC from the host: the npm build carries no normalization tables.
        request.prepare(|s| {
            js_sys::JsString::from(s)
                .normalize("NFKC")
                .as_string()
                .unwrap_or_else(|| s.to_string())
        });
        Box::pin(async move {
            match subtle_pbkdf2(&request).await {
                Some(salted) => salted,
                None => request.derive(),
            }
        })
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<()> {
        getrandom::fill(buf).map_err(|e| {
            Error::new(
                Kind::Connect,
                format!("crypto.getRandomValues is not available: {e}"),
            )
        })
    }
}

/// PBKDF2-HMAC-SHA-256 by `crypto.subtle.deriveBits`, or `None` where the host has no
/// WebCrypto or refuses the request (the caller then runs it in wasm). Native code takes
/// ~1 ms for Postgres' 4096 rounds where a cold wasm instance takes ~10.
async fn subtle_pbkdf2(request: &KeyRequest) -> Option<[u8; 32]> {
    let get = |target: &JsValue, key: &str| Reflect::get(target, &JsValue::from_str(key)).ok();
    let call = |target: &JsValue, method: &str, args: Array| -> Option<JsFuture> {
        let f = get(target, method)?.dyn_into::<Function>().ok()?;
        let promise = f.apply(target, &args).ok()?.dyn_into::<Promise>().ok()?;
        Some(JsFuture::from(promise))
    };
    let subtle = get(&get(&js_sys::global(), "crypto")?, "subtle")?;
    if subtle.is_undefined() || subtle.is_null() {
        return None;
    }
    // Copies, never views into wasm memory.
    let password = Uint8Array::from(request.password.as_slice());
    let usages = Array::of1(&JsValue::from_str("deriveBits"));
    let import = Array::of5(
        &JsValue::from_str("raw"),
        &password,
        &JsValue::from_str("PBKDF2"),
        &JsValue::FALSE,
        &usages,
    );
    let key = call(&subtle, "importKey", import)?.await.ok()?;
    let params = Object::new();
    for (name, value) in [
        ("name", JsValue::from_str("PBKDF2")),
        ("hash", JsValue::from_str("SHA-256")),
        ("salt", Uint8Array::from(request.salt.as_slice()).into()),
        (
            "iterations",
            JsValue::from_f64(f64::from(request.iterations)),
        ),
    ] {
        Reflect::set(&params, &JsValue::from_str(name), &value).ok()?;
    }
    let derive = Array::of3(&params, &key, &JsValue::from_f64(256.0));
    let bits = call(&subtle, "deriveBits", derive)?.await.ok()?;
    let bits = Uint8Array::new(&bits);
    let mut salted = [0u8; 32];
    if bits.length() as usize != salted.len() {
        return None;
    }
    bits.copy_to(&mut salted);
    Some(salted)
}

/// A `setTimeout` promise that clears its timer when dropped (a lost race must not keep the
/// host alive); `background` timers are also `unref`'d where the host supports it.
fn timer(ms: u64, background: bool) -> LocalBoxFuture<'static, ()> {
    let global = js_sys::global();
    let mut handle = JsValue::UNDEFINED;
    let promise = Promise::new(&mut |resolve, _reject| {
        let Ok(set_timeout) = Reflect::get(&global, &JsValue::from_str("setTimeout")) else {
            return;
        };
        let Ok(set_timeout) = set_timeout.dyn_into::<Function>() else {
            return;
        };
        let delay = JsValue::from_f64(ms.min(i32::MAX as u64) as f64);
        if let Ok(h) = set_timeout.call2(&global, &resolve, &delay) {
            if background
                && let Ok(unref) = Reflect::get(&h, &JsValue::from_str("unref"))
                && let Some(unref) = unref.dyn_ref::<Function>()
            {
                let _ = unref.call0(&h);
            }
            handle = h;
        }
    });
    let guard = ClearOnDrop(handle);
    Box::pin(async move {
        let _ = JsFuture::from(promise).await;
        drop(guard);
    })
}

/// Clears a pending `setTimeout` when the future waiting on it is dropped.
struct ClearOnDrop(JsValue);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        if self.0.is_undefined() {
            return;
        }
        let global = js_sys::global();
        if let Ok(clear) = Reflect::get(&global, &JsValue::from_str("clearTimeout"))
            && let Some(clear) = clear.dyn_ref::<Function>()
        {
            let _ = clear.call1(&global, &self.0);
        }
    }
}
