//! The runtime services on wasm: `Date.now()`, `setTimeout` (housekeeping timers `unref`'d
//! where the host has it, so a pool's idle timer never keeps Node alive), `spawn_local`, and
//! `crypto.getRandomValues`.

use futures_util::future::LocalBoxFuture;
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::{Error, Kind, Result};
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

    fn fill_random(&self, buf: &mut [u8]) -> Result<()> {
        getrandom::fill(buf).map_err(|e| {
            Error::new(
                Kind::Connect,
                format!("crypto.getRandomValues is not available: {e}"),
            )
        })
    }
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
