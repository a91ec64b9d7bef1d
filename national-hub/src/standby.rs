//! A hub whose database's lease another hub holds stands by: it listens,
//! answers every call UNAVAILABLE naming the active hub (in words, and in
//! `x-gongji-active-hub` metadata that nodes given every hub's address
//! follow), says NOT_SERVING to health checks, and tries the lease twice a
//! second. When the active hub stops (its session with the database ends:
//! it was killed, or lost the database), this one takes the lease, with a
//! new fencing epoch that keeps the old one from ever writing again, and
//! serves on the same port.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use gongji_common::{
    server::{self, ActiveAddress, HubRouterService, NationalHubService, RunError},
    store::{Standby, Store, StoreError, StoreOptions},
};
use tokio::net::TcpListener;

use crate::{store::TREES, SERVICES};

/// How often a standby tries the lease.
const TRY_EVERY: Duration = Duration::from_millis(500);

/// Stands by on `listener` until this hub (`advertised`, as it names
/// itself in the lease) holds the store at `url`; `None` if `shutdown`
/// comes first. `active` is the hub that holds it now, as first read.
pub(crate) async fn until_active(
    url: &str,
    advertised: &str,
    options: StoreOptions,
    active: Option<String>,
    listener: &TcpListener,
    mut serving: tonic::transport::Server,
    mut shutdown: Pin<&mut impl Future<Output = ()>>,
) -> Result<Option<Store>, RunError> {
    tracing::warn!(
        active = active.as_deref().unwrap_or("unknown"),
        "another hub is active on this database: standing by"
    );
    let active: ActiveAddress = Arc::new(std::sync::RwLock::new(active));
    let router = serving
        .add_service(server::standby::<HubRouterService>(Arc::clone(&active)))
        .add_service(server::standby::<NationalHubService>(Arc::clone(&active)));
    let shared = server::share_listener(listener).map_err(|e| RunError::Start(format!("sharing the listener: {e}")))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let standing = tokio::spawn(server::serve_standby(router, SERVICES, shared, async {
        let _ = stopped.await;
    }));
    let mut standby: Option<Standby> = None;
    let store = loop {
        tokio::select! {
            _ = &mut shutdown => break None,
            _ = tokio::time::sleep(TRY_EVERY) => {}
        }
        let (url, advertised, options) = (url.to_owned(), advertised.to_owned(), options.clone());
        let tried = tokio::task::spawn_blocking(move || -> Result<Result<Store, (Standby, Option<String>)>, StoreError> {
            let standby = match standby {
                Some(standby) => standby,
                None => Store::stand_by(&url, TREES, options)?,
            };
            standby.try_activate(&advertised)
        })
        .await
        .map_err(|e| RunError::Start(format!("the standby's lease task failed: {e}")))?;
        standby = match tried {
            Ok(Ok(store)) => break Some(store),
            Ok(Err((waiting, holder))) => {
                if let Ok(mut known) = active.write() {
                    if *known != holder {
                        tracing::info!(active = holder.as_deref().unwrap_or("unknown"), "the active hub");
                        *known = holder;
                    }
                }
                Some(waiting)
            }
            Err(error) => {
                tracing::warn!(%error, "standing by: the database cannot be reached; trying again");
                None
            }
        };
    };
    let _ = stop.send(());
    match standing.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "the standby's server ended with an error"),
        Err(error) => tracing::warn!(%error, "the standby's server task failed"),
    }
    if store.is_some() {
        tracing::info!(hub = %advertised, "took the lease: this hub is active now");
    }
    Ok(store)
}
