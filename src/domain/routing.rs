//! Which endpoints a message goes to.

use super::{Channel, EventTypeName};

/// Whether an endpoint with these filters subscribes to a message of `event_type` published
/// on `channels`. A `None` filter accepts everything; an endpoint with a channel filter only
/// receives messages that share at least one channel with it.
pub fn subscribes(
    endpoint_event_types: Option<&[EventTypeName]>,
    endpoint_channels: Option<&[Channel]>,
    event_type: &EventTypeName,
    channels: Option<&[Channel]>,
) -> bool {
    let type_ok = endpoint_event_types.is_none_or(|types| types.contains(event_type));
    let channel_ok = endpoint_channels
        .is_none_or(|wanted| channels.is_some_and(|have| have.iter().any(|c| wanted.contains(c))));
    type_ok && channel_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(s: &str) -> EventTypeName {
        EventTypeName::parse(s).unwrap()
    }
    fn ch(s: &str) -> Channel {
        Channel::parse(s).unwrap()
    }

    #[test]
    fn no_filters_means_everything() {
        assert!(subscribes(None, None, &ty("a"), None));
    }

    #[test]
    fn event_type_filter_selects_listed_types_only() {
        let types = [ty("invoice.paid")];
        assert!(subscribes(Some(&types), None, &ty("invoice.paid"), None));
        assert!(!subscribes(Some(&types), None, &ty("invoice.void"), None));
    }

    #[test]
    fn channel_filter_needs_a_shared_channel() {
        let wanted = [ch("eu")];
        assert!(subscribes(
            None,
            Some(&wanted),
            &ty("a"),
            Some(&[ch("us"), ch("eu")])
        ));
        assert!(!subscribes(
            None,
            Some(&wanted),
            &ty("a"),
            Some(&[ch("us")])
        ));
        assert!(!subscribes(None, Some(&wanted), &ty("a"), None));
    }
}
