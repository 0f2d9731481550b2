//! Security events: the one place that records who did what, from where. Recording never
//! fails the action it describes; a failure to record is logged loudly instead.

use crate::store::{NewEvent, Store};

pub async fn record(store: &Store, event: NewEvent) {
    let kind = event.kind.clone();
    if let Err(e) = store.insert_event(event).await {
        tracing::error!(error = %e, kind = %kind, "could not record a security event");
    }
}
