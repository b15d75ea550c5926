//! The queue from the [`Producer`](crate::Producer) handles to the driver task.
//!
//! A mutex-guarded queue of fixed-size chunks that the driver takes whole, plus a
//! [`Notify`] that is signalled only when the queue goes from empty to non-empty.
//! Compared with an unbounded mpsc channel this costs one short lock and one move
//! per command, the driver is woken once per burst rather than once per record,
//! and emptied chunks come back for reuse (a few are kept), so a steady stream
//! allocates nothing while memory still follows the backlog.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::delivery::{Receiver, Reply, Slots};
use crate::driver::Command;

/// Commands per chunk.
pub(crate) const CHUNK: usize = 128;

/// Empty chunks kept for reuse.
pub(crate) const SPARE_CHUNKS: usize = 32;

/// The most records waiting in the inbox (see
/// [`Room::inbox`](crate::driver::Room::inbox)): as many as the spare chunks hold,
/// so that a steady stream reuses its chunks.
pub(crate) const MAX_RECORDS: usize = SPARE_CHUNKS * CHUNK;

/// A run of commands, in order; at most [`CHUNK`].
pub(crate) type Chunk = Vec<Command>;

#[derive(Default)]
struct State {
    /// Non-empty chunks, in order.
    queue: VecDeque<Chunk>,
    spare: Vec<Chunk>,
    /// Every handle is gone: the driver delivers what is queued and stops.
    handles_gone: bool,
    /// The delivery slots of the records sent.
    slots: Slots,
    /// Every topic sent to, by number: commands carry the number.
    topic_names: Vec<Arc<str>>,
    topic_numbers: HashMap<Arc<str>, u32>,
    /// The number of the last record's topic (the usual next one).
    last_topic: Option<u32>,
}

impl State {
    /// The number of `topic`, given on first use.
    fn topic_number(&mut self, topic: &str) -> u32 {
        if let Some(last) = self.last_topic {
            if self
                .topic_names
                .get(last as usize)
                .is_some_and(|name| **name == *topic)
            {
                return last;
            }
        }
        let number = match self.topic_numbers.get(topic) {
            Some(n) => *n,
            None => {
                // More than u32::MAX topics do not fit in memory anyway.
                let n = self.topic_names.len() as u32;
                let name: Arc<str> = Arc::from(topic);
                self.topic_names.push(Arc::clone(&name));
                self.topic_numbers.insert(name, n);
                n
            }
        };
        self.last_topic = Some(number);
        number
    }
}

/// See the module documentation.
#[derive(Default)]
pub(crate) struct Inbox {
    state: Mutex<State>,
    notify: Notify,
    /// The driver stopped: commands are refused.
    driver_gone: AtomicBool,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if something did, the queue is
        // still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `command` for the driver. Returns false (and drops `command`) if
    /// the driver stopped.
    pub(crate) fn push(&self, command: Command) -> bool {
        let state = self.lock();
        // Read under the lock: `driver_stopped` sets it under the lock too, so
        // a command is either refused here or dropped there.
        if self.driver_gone.load(Ordering::Relaxed) {
            drop(state);
            drop(command);
            return false;
        }
        self.push_locked(state, command);
        true
    }

    /// Queues the command `make` builds around the next delivery slot, and returns
    /// that slot's receiving end; `None` (nothing queued) if the driver stopped.
    /// Slots are handed out under the inbox's lock, so that every producer clone
    /// fills the same blocks.
    /// `make` gets the number of `topic` too (see [`Inbox::topic_names`]).
    pub(crate) fn push_send(
        &self,
        topic: &str,
        make: impl FnOnce(u32, Reply) -> Command,
    ) -> Option<Receiver> {
        let mut state = self.lock();
        if self.driver_gone.load(Ordering::Relaxed) {
            return None;
        }
        let topic = state.topic_number(topic);
        let (reply, receiver) = state.slots.reserve();
        let command = make(topic, reply);
        self.push_locked(state, command);
        Some(receiver)
    }

    fn push_locked(&self, mut state: MutexGuard<'_, State>, command: Command) {
        let was_empty = {
            let was_empty = state.queue.is_empty();
            match state.queue.back_mut() {
                Some(chunk) if chunk.len() < CHUNK => chunk.push(command),
                _ => {
                    let mut chunk = state
                        .spare
                        .pop()
                        .unwrap_or_else(|| Vec::with_capacity(CHUNK));
                    chunk.push(command);
                    state.queue.push_back(chunk);
                }
            }
            drop(state);
            was_empty
        };
        if was_empty {
            self.notify.notify_one();
        }
    }

    /// Appends the names of the topics numbered from `names.len()` on to `names`
    /// (topic `n` is `names[n]`).
    pub(crate) fn topic_names(&self, names: &mut Vec<Arc<str>>) {
        let state = self.lock();
        if let Some(new) = state.topic_names.get(names.len()..) {
            names.extend(new.iter().cloned());
        }
    }

    /// Whether the driver stopped.
    pub(crate) fn is_closed(&self) -> bool {
        self.driver_gone.load(Ordering::Relaxed)
    }

    /// Every handle is gone (the last [`Producer`](crate::Producer) clone dropped).
    pub(crate) fn handles_gone(&self) {
        self.lock().handles_gone = true;
        self.notify.notify_one();
    }

    /// Moves every queued chunk to the back of `into`, and takes the emptied
    /// chunks in `spent` back for reuse. Returns whether every handle is gone (then
    /// nothing more will come once this returned nothing).
    pub(crate) fn take(&self, into: &mut VecDeque<Chunk>, spent: &mut Vec<Chunk>) -> bool {
        let mut state = self.lock();
        into.extend(state.queue.drain(..));
        let room = SPARE_CHUNKS.saturating_sub(state.spare.len());
        state.spare.extend(spent.drain(..).take(room));
        state.handles_gone
    }

    /// Resolves after a [`Inbox::push`] to an empty queue (or
    /// [`Inbox::handles_gone`]) since the last time it resolved.
    pub(crate) async fn notified(&self) {
        self.notify.notified().await;
    }

    /// The driver stopped: refuse new commands; the queued ones are dropped (their
    /// futures report [`ProduceError::Closed`](crate::ProduceError::Closed)).
    pub(crate) fn driver_stopped(&self) {
        let dropped = {
            let mut state = self.lock();
            self.driver_gone.store(true, Ordering::Relaxed);
            std::mem::take(&mut state.queue)
        };
        drop(dropped);
    }
}
