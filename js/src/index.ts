/** Types entry: the API is the same in every runtime (see the per-runtime entrypoints). */
export * from './browser.js';
