//! Gridline sync server: the HTTP API over which devices enroll, push their outbox and pull
//! their scoped change feed (DESIGN.md "Sync"), on an embedded SQLite storage.
//!
//! Layers: [`routes`] → handlers → [`service`] (rules, scope checks) → [`storage::Storage`]
//! → [`storage::SqliteStorage`]. Tests drive [`app`] with `tower::ServiceExt::oneshot`, or start
//! a real server with [`serve_on`] / [`spawn_test_server`].

pub mod auth;
pub mod cli;
pub mod console;
pub mod demo;
pub mod demo_history;
pub mod error;
pub mod fuzzing;
pub mod import;
pub mod logins;
pub mod openapi;
pub mod routes;
pub mod service;
pub mod storage;
pub mod wire;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gridline_core::{Clock, SystemClock};

pub use error::AppError;
pub use service::{Config, Service, UserSpec};
pub use storage::{SqliteStorage, Storage, StoreError};

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The rules over the storage.
    pub service: Arc<Service>,
    /// Failed-login limits of enrollment and the console's login form.
    pub logins: Arc<logins::LoginLimiter>,
}

impl AppState {
    /// State over a storage, on the system clock.
    pub fn new(storage: Arc<dyn Storage>, config: Config) -> Self {
        Self::with_clock(storage, Arc::new(SystemClock), config)
    }

    /// State over a storage and a clock (tests drive time).
    pub fn with_clock(storage: Arc<dyn Storage>, clock: Arc<dyn Clock>, config: Config) -> Self {
        AppState { service: Arc::new(Service::new(storage, clock, config)), logins: Arc::default() }
    }

    /// State over the SQLite storage in `data_dir` (created if needed).
    pub fn open(data_dir: &Path, config: Config) -> Result<Self, StoreError> {
        Ok(Self::new(Arc::new(SqliteStorage::open(data_dir)?), config))
    }
}

/// The API as a router.
pub fn app(state: AppState) -> axum::Router {
    routes::router(state)
}

/// Serves the API on a bound listener until the process ends.
pub async fn serve_on(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(listener, app(state).into_make_service_with_connect_info::<SocketAddr>()).await
}

/// Serves the API until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state).into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(shutdown).await
}

/// A server running on its own thread and runtime, for tests written as blocking code.
/// Dropping it (or [`TestServer::stop`]) stops the server abruptly, as a crash would.
pub struct TestServer {
    addr: SocketAddr,
    data_dir: PathBuf,
    state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its data dir.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The state it serves (for direct service and storage access).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Creates a user with a password (cheap hash); returns the user's id.
    pub fn add_user(&self, spec: &UserSpec) -> Result<String, AppError> {
        Ok(self.state.service.add_user(spec)?.id)
    }

    /// Stops the server and waits until its thread is gone.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts a server on `data_dir` on an ephemeral loopback port (cheap password hashes).
pub fn spawn_test_server(data_dir: &Path) -> std::io::Result<TestServer> {
    spawn_test_server_on(data_dir, "127.0.0.1:0".parse().expect("literal address"), Config::for_tests())
}

/// Starts a server on `data_dir` at `addr` (use port 0 for an ephemeral one; reuse an old
/// server's address to "restart" it).
pub fn spawn_test_server_on(data_dir: &Path, addr: SocketAddr, config: Config) -> std::io::Result<TestServer> {
    let state = AppState::open(data_dir, config).map_err(std::io::Error::other)?;
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let served = state.clone();
    let thread = std::thread::Builder::new().name(format!("gridline-server-{}", addr.port())).spawn(move || {
        let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "test server runtime failed");
                return;
            }
        };
        rt.block_on(async move {
            let listener = match tokio::net::TcpListener::from_std(std_listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "test server listener failed");
                    return;
                }
            };
            // Stopping is abrupt, like a crash: open connections are cut, and the runtime's drop
            // lets a push transaction already running finish (or not) atomically.
            tokio::select! {
                r = serve_on(listener, served) => {
                    if let Err(e) = r {
                        tracing::error!(error = %e, "test server stopped");
                    }
                }
                _ = stop_rx => {}
            }
        });
    })?;
    Ok(TestServer {
        addr,
        data_dir: data_dir.to_owned(),
        state,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}
