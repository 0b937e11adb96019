//! Long-form documentation.

#[doc = include_str!("docs/plain_websocket.md")]
pub mod plain_websocket {}

#[doc = include_str!("docs/slow_consumers.md")]
pub mod slow_consumers {}

#[doc = include_str!("docs/extractors.md")]
pub mod extractors {}

#[doc = include_str!("docs/cluster.md")]
pub mod cluster {}

#[doc = include_str!("docs/legacy_clients.md")]
pub mod legacy_clients {}

#[doc = include_str!("docs/recovery.md")]
pub mod recovery {}
