//! The application: configuration, storage and shared services, behind one `Arc`.

use std::ops::Deref;
use std::sync::Arc;

use easel_db::Store;

use crate::auth::Authenticator;
use crate::config::Config;

/// Everything a request handler or background task needs.
pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub auth: Arc<Authenticator>,
}

impl App {
    /// Builds the application around an opened, migrated store.
    pub fn new(config: Config, store: Arc<dyn Store>) -> App {
        let auth = Arc::new(Authenticator::new(
            Arc::clone(&store),
            config.api_keys.prefix.clone(),
        ));
        App {
            config,
            store,
            auth,
        }
    }
}

/// The axum state: a cheap clone of the shared `App`.
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl axum::extract::FromRequestParts<AppState> for AppState {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        _parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(state.clone())
    }
}
