//! Criterion benchmarks only: see `benches/` and `cargo bench`.
