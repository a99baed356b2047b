//! The application: configuration, storage and shared services, behind one `Arc`.

use std::ops::Deref;
use std::sync::Arc;

use easel_db::Store;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::console::SessionKey;

/// Everything a request handler or background task needs.
pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub auth: Arc<Authenticator>,
    /// Signs console session cookies; derived from the instance secret.
    pub session_key: SessionKey,
}

impl App {
    /// Builds the application around an opened, migrated store. `instance_secret` is the
    /// instance's signing secret (`None` in tools that serve no pages: a random key).
    pub fn new(config: Config, store: Arc<dyn Store>, instance_secret: Option<&str>) -> App {
        let prefix = config.api_keys.prefix.clone();
        let auth = Arc::new(Authenticator::new(Arc::clone(&store), prefix));
        let session_key = match instance_secret {
            Some(secret) => SessionKey::from_secret(secret),
            None => SessionKey(axum_extra::extract::cookie::Key::generate()),
        };
        App {
            config,
            store,
            auth,
            session_key,
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
