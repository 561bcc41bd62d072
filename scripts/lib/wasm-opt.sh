# wasm-opt's flags for the shipped .wasm (js/build.sh) and for the benchmark's named copy of
# it (scripts/bench.sh), which must come out byte-identical. Sourced; defines WASM_FEATURES
# (what the module uses) and WASM_OPT_FLAGS (the optimization).
#
# -ocimfs 40: a function with one caller is inlined only when small. By default wasm-opt
# inlines every function with one caller, whatever its size, undoing the crate's
# #[inline(never)] on cold paths (the handshake, errors): V8's optimizing tier then compiles
# them as part of the hot protocol loop, which cost it ~100 ms and 12 MB of compiler memory
# (kept by the process as RSS) instead of a few. The .wasm comes out about as large.
WASM_FEATURES=(--enable-reference-types --enable-bulk-memory --enable-nontrapping-float-to-int
  --enable-sign-ext --enable-mutable-globals --enable-multivalue)
WASM_OPT_FLAGS=(-Oz -ocimfs 40 --strip-producers "${WASM_FEATURES[@]}")
