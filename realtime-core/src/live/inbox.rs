//! One connection's inbox: the handlers waiting to start, started in arrival order by a
//! dispatcher task, never on the connection's I/O task.
//!
//! Why a queue and a task of its own: a handler runs up to its first await as soon as it is
//! started (see `event::start`), which is what makes the handlers of one
//! connection *start* in the order their events arrived. Started on the I/O task, a handler
//! with a slow synchronous part would hold up that connection's reads, heartbeats and
//! polling requests. Here the I/O task only queues; a dispatcher task, spawned when the
//! queue becomes non-empty and gone when it is empty again (an idle connection has no task
//! and no buffer), starts each handler in order.
//!
//! Two bounds keep one connection from making the server hold unbounded work:
//! - at most [`Config::max_handlers_in_flight`](crate::Config::max_handlers_in_flight)
//!   event handlers of the connection run at once (started and not finished); the
//!   dispatcher waits for one to finish before starting the next;
//! - at most [`Config::max_events_waiting`](crate::Config::max_events_waiting) events wait
//!   to start; while the queue is full the transport stops reading from the connection
//!   (a WebSocket is not read, a polling POST is not answered), so a flood slows down only
//!   the client that sends it, and TCP pushes back on it.
//!
//! Lifecycle handlers (connect, disconnect, the handshake events) and the framework's own
//! steps that must keep their place among them (the `$init` reply, the disconnect after a
//! failed `$init`) go through the same queue, but neither bound applies to them.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use tokio::sync::Notify;

use super::{
    event::{BoxedHandler, EventContext, ReplyTo},
    socket::Socket,
};
use crate::wire::payload::Payload;

/// Something to do in the connection's order.
pub(crate) enum Job {
    /// A client event (bounded); its handler is chosen when it starts.
    Event(QueuedEvent),
    /// A lifecycle event's handler (not bounded).
    Lifecycle(BoxedHandler, EventContext),
    /// A step of the framework's own that must keep its place among the handlers: the
    /// `$init` reply comes after the `shakeHandSuccess` handler has started, say.
    Step(Box<dyn FnOnce() + Send>),
}

impl Job {
    /// A client event for `socket`.
    pub(crate) fn event(
        socket: Socket,
        event: String,
        payload: Payload,
        reply_to: Option<ReplyTo>,
    ) -> Job {
        Job::Event(QueuedEvent {
            socket,
            event,
            payload,
            reply_to,
        })
    }

    /// A lifecycle event's handler.
    pub(crate) fn lifecycle(handler: BoxedHandler, ctx: EventContext) -> Job {
        Job::Lifecycle(handler, ctx)
    }

    /// A framework step, run in order.
    pub(crate) fn step(step: impl FnOnce() + Send + 'static) -> Job {
        Job::Step(Box::new(step))
    }
}

/// A client event waiting to start.
pub(crate) struct QueuedEvent {
    socket: Socket,
    event: String,
    payload: Payload,
    reply_to: Option<ReplyTo>,
}

/// The bounds of an inbox, from the server's config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InboxBounds {
    pub(crate) in_flight: usize,
    pub(crate) waiting: usize,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Whether a dispatcher task is running for this inbox.
    dispatching: bool,
}

/// See the module documentation.
pub(crate) struct Inbox {
    queue: Mutex<Queue>,
    /// Event handlers started and not finished.
    in_flight: AtomicUsize,
    /// Woken when a job leaves the queue or a handler finishes.
    progress: Notify,
    bounds: InboxBounds,
    /// Where handlers that await are spawned (see `Shared::tasks`).
    tasks: tokio_util::task::TaskTracker,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("in_flight", &self.in_flight.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Jobs the dispatcher starts before it yields to the runtime, so one busy connection does
/// not monopolise a worker.
const JOBS_PER_YIELD: usize = 64;

impl Inbox {
    pub(crate) fn new(bounds: InboxBounds, tasks: tokio_util::task::TaskTracker) -> Inbox {
        Inbox {
            queue: Mutex::new(Queue::default()),
            in_flight: AtomicUsize::new(0),
            progress: Notify::new(),
            bounds,
            tasks,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a handler to start after everything queued before it.
    pub(crate) fn push(self: &Arc<Self>, job: Job) {
        let mut queue = self.lock();
        queue.jobs.push_back(job);
        if !queue.dispatching {
            queue.dispatching = true;
            drop(queue);
            tokio::spawn(Arc::clone(self).dispatch());
        }
    }

    /// Whether another event may be read now (the queue of events waiting is not full).
    fn has_room(&self) -> bool {
        self.lock().jobs.len() < self.bounds.waiting
    }

    /// Resolves once another event may be read from the connection.
    pub(crate) async fn ready(&self) {
        crate::wait::until(&self.progress, || self.has_room()).await
    }

    /// Starts the queued handlers in order until the queue is empty.
    async fn dispatch(self: Arc<Self>) {
        let mut started = 0usize;
        loop {
            let job = {
                let mut queue = self.lock();
                match queue.jobs.pop_front() {
                    Some(job) => job,
                    None => {
                        queue.dispatching = false;
                        if queue.jobs.capacity() > 16 {
                            queue.jobs = VecDeque::new();
                        }
                        return;
                    }
                }
            };
            self.progress.notify_waiters();
            match job {
                Job::Event(queued) => {
                    let QueuedEvent {
                        socket,
                        event,
                        payload,
                        reply_to,
                    } = queued;
                    // No handler: the error reply, if any, is already sent.
                    if let Some((handler, ctx)) = socket.resolve_event(event, payload, reply_to) {
                        self.wait_for_a_free_slot().await;
                        self.in_flight.fetch_add(1, Ordering::AcqRel);
                        let done = Finished(Arc::clone(&self));
                        let handler = handler(ctx);
                        let handler = Box::pin(async move {
                            let _done = done;
                            handler.await;
                        });
                        super::event::start(handler, &self.tasks);
                    }
                }
                Job::Lifecycle(handler, ctx) => super::event::start(handler(ctx), &self.tasks),
                Job::Step(step) => {
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).is_err() {
                        tracing::error!("a connection step panicked");
                    }
                }
            }
            started += 1;
            if started % JOBS_PER_YIELD == 0 {
                tokio::task::yield_now().await;
            }
        }
    }

    async fn wait_for_a_free_slot(&self) {
        let free = || self.in_flight.load(Ordering::Acquire) < self.bounds.in_flight;
        crate::wait::until(&self.progress, free).await
    }
}

/// Frees a handler's in-flight slot however its future ends (finished, panicked, dropped).
struct Finished(Arc<Inbox>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.progress.notify_waiters();
    }
}
