//! Procedural macros for `realtime`.
//!
//! The `#[event]` attribute and the lifecycle attributes land here (issue 3). They expand to
//! a registration against the builder API of `realtime-core`
//! (`Namespace::on(event, handler)`), which is already usable by hand.
