//! Waiting for a condition that a [`Notify`] announces: registered before the check, so a
//! notification between the check and the wait is never missed.

use tokio::sync::Notify;

/// Resolves once `ready()` holds; `notify` is woken (with `notify_waiters` or `notify_one`)
/// whenever it may have become true.
pub(crate) async fn until(notify: &Notify, ready: impl Fn() -> bool) {
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if ready() {
            return;
        }
        notified.await;
    }
}
