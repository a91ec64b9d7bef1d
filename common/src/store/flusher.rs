//! Group commit: one thread owns the flushes. Waiters queue a reply channel;
//! the thread takes every waiter queued so far, flushes once, and answers them
//! all. A waiter that queues during a flush is served by the next one, so no
//! write is acknowledged before it is on disk.

use std::{
    sync::{mpsc, Mutex},
    thread::JoinHandle,
};

use tokio::sync::oneshot;

use super::StoreError;

type Waiter = oneshot::Sender<Result<(), String>>;

pub(super) struct Flusher {
    queue: Mutex<Option<mpsc::Sender<Waiter>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Flusher {
    pub(super) fn start(db: sled::Db) -> Flusher {
        let (queue, waiting) = mpsc::channel::<Waiter>();
        let thread = std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || {
                while let Ok(first) = waiting.recv() {
                    let mut batch = vec![first];
                    batch.extend(waiting.try_iter());
                    let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
                    for waiter in batch {
                        let _ = waiter.send(result.clone());
                    }
                }
                // The queue closed: the store is being dropped. One last
                // flush so that a clean shutdown leaves nothing behind.
                let _ = db.flush();
            })
            .expect("spawning the flusher thread needs only memory");
        Flusher {
            queue: Mutex::new(Some(queue)),
            thread: Mutex::new(Some(thread)),
        }
    }

    pub(super) async fn flush(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        {
            let queue = self.queue.lock().map_err(|_| StoreError::Flush("flusher lock poisoned".into()))?;
            let queue = queue.as_ref().ok_or_else(|| StoreError::Flush("store is closing".into()))?;
            queue.send(reply).map_err(|_| StoreError::Flush("flusher thread stopped".into()))?;
        }
        match answer.await {
            Ok(result) => result.map_err(StoreError::Flush),
            Err(_) => Err(StoreError::Flush("flusher thread stopped".into())),
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // Closing the queue ends the thread, which drops its handle on the
        // database; joining makes the directory free to reopen at once.
        if let Ok(mut queue) = self.queue.lock() {
            queue.take();
        }
        if let Ok(mut thread) = self.thread.lock() {
            if let Some(thread) = thread.take() {
                let _ = thread.join();
            }
        }
    }
}
