//! A fault-injecting TCP proxy on loopback, put between two servers to lose,
//! delay or refuse what passes between them. Used to test what happens when
//! a reply never arrives (the caller must leave the transaction pending) or
//! a connection is cut mid-call.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// What the proxy does to traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Pass everything through.
    None,
    /// Forward requests but throw away every reply: the callee acts, the
    /// caller never learns it.
    DropReplies,
    /// Hold every byte back by this long.
    Delay(Duration),
    /// Accept connections and close them at once.
    Refuse,
}

struct Control {
    fault: Mutex<Fault>,
    /// Bumped to cut every open connection.
    generation: watch::Sender<u64>,
}

impl Control {
    fn fault(&self) -> Fault {
        *self.fault.lock().expect("fault lock")
    }
}

/// A running proxy to one target address.
pub struct FaultProxy {
    addr: SocketAddr,
    control: Arc<Control>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 port 0 and forwards to `target`.
    pub async fn start(target: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds loopback");
        let addr = listener.local_addr().expect("proxy address");
        let control = Arc::new(Control {
            fault: Mutex::new(Fault::None),
            generation: watch::channel(0).0,
        });
        let task = tokio::spawn(accept(listener, target, control.clone()));
        FaultProxy { addr, control, task }
    }

    /// Where callers should connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Applies a fault to new and open connections.
    pub fn set(&self, fault: Fault) {
        *self.control.fault.lock().expect("fault lock") = fault;
    }

    /// Closes every open connection (callers reconnect on their next call).
    pub fn cut(&self) {
        self.control.generation.send_modify(|g| *g += 1);
    }

    /// No more faults, and fresh connections (a stream that lost bytes
    /// cannot be trusted again).
    pub fn heal(&self) {
        self.set(Fault::None);
        self.cut();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, target: SocketAddr, control: Arc<Control>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if control.fault() == Fault::Refuse {
            drop(client);
            continue;
        }
        let control = control.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(target).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let mut cut = control.generation.subscribe();
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::select! {
                _ = pump(client_read, server_write, control.clone(), false) => {}
                _ = pump(server_read, client_write, control.clone(), true) => {}
                _ = cut.changed() => {}
            }
        });
    }
}

async fn pump(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, control: Arc<Control>, is_reply: bool) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match control.fault() {
            Fault::DropReplies if is_reply => continue,
            Fault::Delay(by) => tokio::time::sleep(by).await,
            Fault::Refuse => return,
            _ => {}
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
