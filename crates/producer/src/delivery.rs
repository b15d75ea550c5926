//! Where the driver leaves each record's outcome for its
//! [`DeliveryFuture`](crate::DeliveryFuture).
//!
//! A oneshot channel per record costs an allocation of its own (136 bytes with
//! the result inside) that lives until the application reads the outcome. Here
//! the outcomes live in shared [`Block`]s of [`SLOTS`] slots, handed out in
//! order: one allocation per [`SLOTS`] records, a 48-byte slot per record, and a
//! block is freed once every future and reply of its records is gone. Errors are
//! boxed in the slot, so the common outcome, a success, stays small.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::{ProduceError, RecordMetadata};

/// Slots per block.
pub(crate) const SLOTS: usize = 128;

/// An outcome as a slot holds it.
type Stored = Result<RecordMetadata, Box<ProduceError>>;

enum Slot {
    /// No outcome yet; the waker of the future's last poll, if it was polled.
    Waiting(Option<Waker>),
    /// The outcome, not yet read.
    Done(Stored),
    /// The future read the outcome or was dropped.
    Gone,
}

/// [`SLOTS`] consecutive slots.
pub(crate) struct Block {
    slots: Mutex<Vec<Slot>>,
}

impl Block {
    fn new() -> Arc<Block> {
        let slots = (0..SLOTS).map(|_| Slot::Waiting(None)).collect();
        Arc::new(Block {
            slots: Mutex::new(slots),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Slot>> {
        // Nothing panics while holding the lock; if something did, every slot is
        // still in a valid state.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Hands out slots in order, a new block every [`SLOTS`] records.
#[derive(Default)]
pub(crate) struct Slots {
    block: Option<Arc<Block>>,
    next: usize,
}

impl Slots {
    /// The next slot: the reply for the driver and the future for the application.
    pub(crate) fn reserve(&mut self) -> (Reply, Receiver) {
        let block = match &self.block {
            Some(block) if self.next < SLOTS => Arc::clone(block),
            _ => {
                let block = Block::new();
                self.block = Some(Arc::clone(&block));
                self.next = 0;
                block
            }
        };
        // Below SLOTS, which fits.
        let index = self.next as u32;
        self.next += 1;
        let receiver = Receiver {
            block: Arc::clone(&block),
            index,
            done: false,
        };
        (Reply { block, index }, receiver)
    }
}

/// [`Reply::index`] once the reply was sent.
const SENT: u32 = u32::MAX;

/// The driver's end of a slot. Dropped without [`Reply::send`] (the driver
/// stopped), it answers [`ProduceError::Closed`].
pub(crate) struct Reply {
    block: Arc<Block>,
    index: u32,
}

impl Reply {
    /// Leaves `outcome` for the future, and wakes it if it waits.
    pub(crate) fn send(mut self, outcome: Result<RecordMetadata, ProduceError>) {
        let index = std::mem::replace(&mut self.index, SENT);
        complete(&self.block, index, outcome.map_err(Box::new));
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if self.index != SENT {
            complete(&self.block, self.index, Err(Box::new(ProduceError::Closed)));
        }
    }
}

fn complete(block: &Block, index: u32, outcome: Stored) {
    let waker = {
        let mut slots = block.lock();
        let Some(slot) = slots.get_mut(index as usize) else {
            return;
        };
        match slot {
            Slot::Waiting(waker) => {
                let waker = waker.take();
                *slot = Slot::Done(outcome);
                waker
            }
            // Nobody reads it (or it was answered already): dropped, outside the
            // lock.
            Slot::Gone | Slot::Done(_) => {
                drop(slots);
                drop(outcome);
                return;
            }
        }
    };
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// The application's end of a slot (inside [`DeliveryFuture`](crate::DeliveryFuture)).
pub(crate) struct Receiver {
    block: Arc<Block>,
    index: u32,
    /// The outcome was read.
    done: bool,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// The outcome once there is one. Polled again after that, it reports
    /// [`ProduceError::Closed`].
    pub(crate) fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<RecordMetadata, ProduceError>> {
        if self.done {
            return Poll::Ready(Err(ProduceError::Closed));
        }
        let mut slots = self.block.lock();
        let Some(slot) = slots.get_mut(self.index as usize) else {
            return Poll::Ready(Err(ProduceError::Closed));
        };
        match std::mem::replace(slot, Slot::Gone) {
            Slot::Done(outcome) => {
                drop(slots);
                self.done = true;
                Poll::Ready(outcome.map_err(|e| *e))
            }
            Slot::Waiting(waker) => {
                let waker = match waker {
                    Some(w) if w.will_wake(cx.waker()) => w,
                    _ => cx.waker().clone(),
                };
                *slot = Slot::Waiting(Some(waker));
                Poll::Pending
            }
            Slot::Gone => {
                drop(slots);
                self.done = true;
                Poll::Ready(Err(ProduceError::Closed))
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Frees the outcome (or the waker) now rather than with the block.
        let gone = {
            let mut slots = self.block.lock();
            slots
                .get_mut(self.index as usize)
                .map(|slot| std::mem::replace(slot, Slot::Gone))
        };
        drop(gone);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn metadata(offset: i64) -> RecordMetadata {
        RecordMetadata {
            topic: Arc::from("t"),
            partition: 0,
            offset,
            timestamp: 0,
        }
    }

    #[test]
    fn delivery_futures_stay_send_sync_unpin() {
        fn check<T: Send + Sync + Unpin + 'static>() {}
        check::<crate::DeliveryFuture>();
    }

    #[test]
    fn slots_answer_their_futures() {
        assert!(
            std::mem::size_of::<Slot>() <= 48,
            "{}",
            std::mem::size_of::<Slot>()
        );
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let mut slots = Slots::default();
        let mut pairs: Vec<_> = (0..SLOTS + 3).map(|_| slots.reserve()).collect();
        assert!(Arc::ptr_eq(&pairs[0].0.block, &pairs[SLOTS - 1].0.block));
        assert!(!Arc::ptr_eq(&pairs[0].0.block, &pairs[SLOTS].0.block));
        let (reply, mut rx) = pairs.remove(0);
        assert!(rx.poll(&mut cx).is_pending());
        reply.send(Ok(metadata(7)));
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "woken");
        match rx.poll(&mut cx) {
            Poll::Ready(Ok(m)) => assert_eq!(m.offset, 7),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            rx.poll(&mut cx),
            Poll::Ready(Err(ProduceError::Closed))
        ));
        drop(rx);
        // Answered before the first poll; an error.
        let (reply, mut rx) = pairs.remove(0);
        reply.send(Err(ProduceError::Closed));
        assert!(matches!(
            rx.poll(&mut cx),
            Poll::Ready(Err(ProduceError::Closed))
        ));
        drop(rx);
        // A reply dropped unanswered reports Closed.
        let (reply, mut rx) = pairs.remove(0);
        assert!(rx.poll(&mut cx).is_pending());
        drop(reply);
        assert_eq!(count.0.load(Ordering::Relaxed), 2);
        assert!(matches!(
            rx.poll(&mut cx),
            Poll::Ready(Err(ProduceError::Closed))
        ));
        drop(rx);
        // A future dropped first: the outcome is dropped.
        let (reply, rx) = pairs.remove(0);
        drop(rx);
        reply.send(Ok(metadata(1)));
        // The block lives while any of its ends does.
        let block = Arc::downgrade(&pairs[0].0.block);
        pairs.truncate(SLOTS - 4);
        drop(pairs);
        assert!(block.upgrade().is_none());
    }
}
