//! The event object (the payload webhooks deliver, in the Standard Webhooks shape).

use easel_core::time::ms_to_secs;
use easel_db::Event;
use serde::Serialize;
use utoipa::ToSchema;

/// Something that happened to an object of the account, in one mode.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventObject {
    /// Always `event`.
    #[schema(value_type = String, example = "event")]
    pub object: &'static str,
    /// `evt_…`; webhook deliveries of this event carry it as `webhook-id`.
    pub id: String,
    /// Dotted, e.g. `generation.succeeded`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub livemode: bool,
    /// The object the event is about, as it was then.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<Event> for EventObject {
    fn from(e: Event) -> Self {
        EventObject {
            object: "event",
            livemode: e.mode.is_live(),
            id: e.id,
            event_type: e.event_type,
            data: e.data,
            created_at: ms_to_secs(e.created_at),
        }
    }
}
