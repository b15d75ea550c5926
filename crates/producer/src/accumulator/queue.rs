//! [`ChunkedQueue`]: the FIFO queue of records per partition (and per topic while
//! its partitions are unknown).

use std::collections::VecDeque;
use std::fmt;

/// Elements per chunk.
const CHUNK: usize = 256;

/// A FIFO queue stored in chunks of [`CHUNK`] elements. A `VecDeque` grows to the
/// largest backlog it ever held (to a power of two) and keeps that memory; this
/// one frees a chunk as soon as it is emptied, so memory follows the backlog, and
/// growing never copies the elements already queued.
pub(super) struct ChunkedQueue<T> {
    /// Never holds an empty chunk.
    chunks: VecDeque<VecDeque<T>>,
    len: usize,
}

impl<T> Default for ChunkedQueue<T> {
    fn default() -> Self {
        ChunkedQueue {
            chunks: VecDeque::new(),
            len: 0,
        }
    }
}

impl<T> fmt::Debug for ChunkedQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkedQueue")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<T> ChunkedQueue<T> {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(super) fn front(&self) -> Option<&T> {
        self.chunks.front().and_then(VecDeque::front)
    }

    pub(super) fn push_back(&mut self, value: T) {
        match self.chunks.back_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push_back(value),
            _ => {
                let mut chunk = VecDeque::with_capacity(CHUNK);
                chunk.push_back(value);
                self.chunks.push_back(chunk);
            }
        }
        self.len += 1;
    }

    pub(super) fn pop_front(&mut self) -> Option<T> {
        let chunk = self.chunks.front_mut()?;
        let value = chunk.pop_front();
        if chunk.is_empty() {
            self.chunks.pop_front();
        }
        if value.is_some() {
            self.len -= 1;
        }
        value
    }

    /// The elements, front to back.
    pub(super) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    /// Every element, front to back; each chunk is freed once passed.
    pub(super) fn take_all_owned(self) -> impl Iterator<Item = T> {
        self.chunks.into_iter().flatten()
    }

    /// Takes every element, front to back, leaving the queue empty.
    pub(super) fn take_all(&mut self) -> impl Iterator<Item = T> {
        self.len = 0;
        std::mem::take(&mut self.chunks).into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_across_chunks() {
        let mut q = ChunkedQueue::default();
        assert!(q.is_empty() && q.front().is_none() && q.pop_front().is_none());
        for i in 0..1000 {
            q.push_back(i);
        }
        assert_eq!(q.len(), 1000);
        assert_eq!(q.chunks.len(), 4);
        for i in 0..300 {
            assert_eq!(q.pop_front(), Some(i));
        }
        assert_eq!(q.chunks.len(), 3, "an emptied chunk is freed");
        assert_eq!(q.front(), Some(&300));
        for i in 1000..1100 {
            q.push_back(i);
        }
        assert!(q.iter().copied().eq(300..1100));
        assert_eq!(q.len(), 800);
        assert!(q.take_all().eq(300..1100));
        assert!(q.is_empty() && q.chunks.is_empty());
    }
}
