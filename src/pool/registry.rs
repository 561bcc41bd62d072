//! The isolate-wide registry: one pool per normalized config and options. It holds its pools
//! strongly, so a handler that builds its client per request still finds the isolate's
//! connections; [`Pool::end`] removes a pool from it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::pool::{Pool, PoolOptions, Shared};
use crate::proto::Config;
use crate::transport::{Connector, Runtime};

thread_local! {
    // wasm has one thread per isolate, so this is the isolate's registry; natively, one per
    // thread. The key holds the password: it is never printed.
    static POOLS: RefCell<HashMap<String, Rc<Shared>>> = RefCell::new(HashMap::new());
}

pub(super) fn shared(
    config: Config,
    options: PoolOptions,
    connector: Rc<dyn Connector>,
    runtime: Rc<dyn Runtime>,
    transport_key: &str,
) -> Pool {
    let key = format!(
        "{}\u{0}{:?}\u{0}{transport_key}",
        config.cache_key(),
        options
    );
    POOLS.with(|pools| {
        let mut pools = pools.borrow_mut();
        if let Some(shared) = pools.get(&key)
            && !shared.state.borrow().closed
        {
            return Pool {
                shared: shared.clone(),
            };
        }
        let pool = Pool::new(config, options, connector, runtime);
        pools.insert(key, pool.shared.clone());
        pool
    })
}

pub(super) fn forget(pool: &Pool) {
    POOLS.with(|pools| {
        pools
            .borrow_mut()
            .retain(|_, s| !Rc::ptr_eq(s, &pool.shared));
    });
}
