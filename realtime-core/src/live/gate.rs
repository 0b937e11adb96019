//! `EventGate`: how a feature of a layer above (weroll's `$init` shakehand) gets a say on
//! every socket that connects and every event before its handler runs, without the live
//! objects knowing the feature.

use super::{event::ReplyTo, socket::Socket};
use crate::wire::payload::Payload;

/// What an [`EventGate`] decided about an event.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Dispatch the event now (the gate may have changed it).
    Dispatch(String, Payload, Option<ReplyTo>),
    /// Queued, started something, or refused: nothing more to do.
    Handled,
}

/// A check every socket and event of a namespace goes through.
pub(crate) trait EventGate: Send + Sync + 'static {
    /// Whether the gate's configuration can work; checked by `RealtimeBuilder::build`.
    fn check(&self) -> Result<(), &'static str> {
        Ok(())
    }
    /// A socket joined its namespace (its connect handler is queued already).
    fn on_connected(&self, socket: &Socket);
    /// An event arrived, past the rate limit; decides whether its handler runs now.
    fn admit(
        &self,
        socket: &Socket,
        event: String,
        payload: Payload,
        reply_to: Option<ReplyTo>,
    ) -> Admission;
}
