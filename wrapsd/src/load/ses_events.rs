//! The SES events of `webhook-burst`: a seeded plan of which event goes to
//! which message, the EventBridge envelope of each, and the facts the store
//! should record once the accepted events are applied.
//!
//! # Order
//!
//! The store counts each fact of a message once, so the order of a
//! message's events matters only where a bounce meets a delivery: a
//! `Delivery`, `Open` or `Click` records the delivery unless the message
//! has bounced already. The plan keeps such pairs at least `guard` events
//! apart (one second at the target rate), so that the earlier one has its
//! response, and so is queued, before the later one is sent. The run checks
//! that afterwards from the send and completion times; a pair that
//! overlapped anyway is reported as unordered.

use std::collections::VecDeque;

use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::seed::Rng;

/// Stream of the seed for the event plan.
pub const EVENTS_STREAM: u64 = 3;

/// The event types of the plan, then exact duplicates of deliveries, with
/// their weights per 10,000 events.
const WEIGHTS: [(Draw, u64); 6] = [
    (Draw::Fresh(EventKind::Delivery), 7_790),
    (Draw::Fresh(EventKind::Open), 1_000),
    (Draw::Fresh(EventKind::Click), 500),
    (Draw::Fresh(EventKind::Bounce), 200),
    (Draw::Fresh(EventKind::Complaint), 10),
    (Draw::Duplicate, 500),
];
const WEIGHT_TOTAL: u64 = 10_000;
/// Recent deliveries a duplicate is drawn from.
const RECENT_DELIVERIES: usize = 1_024;
/// Random messages tried for an event before one that conflicts is taken.
const MESSAGE_TRIES: usize = 16;

/// An SES event type the plan sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Delivery,
    Open,
    Click,
    Bounce,
    Complaint,
}

impl EventKind {
    /// Returns the position of the type in [`OPERATIONS`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Returns the SES `eventType`.
    fn event_type(self) -> &'static str {
        match self {
            EventKind::Delivery => "Delivery",
            EventKind::Open => "Open",
            EventKind::Click => "Click",
            EventKind::Bounce => "Bounce",
            EventKind::Complaint => "Complaint",
        }
    }

    /// Returns the EventBridge `detail-type`.
    fn detail_type(self) -> &'static str {
        match self {
            EventKind::Delivery => "Email Delivered",
            EventKind::Open => "Email Opened",
            EventKind::Click => "Email Clicked",
            EventKind::Bounce => "Email Bounced",
            EventKind::Complaint => "Email Complaint Received",
        }
    }

    /// Returns whether the event records the delivery of a message that has
    /// not bounced yet.
    fn proves_delivery(self) -> bool {
        matches!(
            self,
            EventKind::Delivery | EventKind::Open | EventKind::Click
        )
    }
}

/// Route of every webhook request, for the results.
const ROUTE: &str = "POST /webhooks/ses/{account}";

/// Names and routes of the generator's operations: the event types in
/// [`EventKind`] order, then `duplicate`, a delivery posted again unchanged.
pub const OPERATIONS: [(&str, &str); 6] = [
    ("delivery", ROUTE),
    ("open", ROUTE),
    ("click", ROUTE),
    ("bounce", ROUTE),
    ("complaint", ROUTE),
    ("duplicate", ROUTE),
];
/// Position of `duplicate` in [`OPERATIONS`].
pub const DUPLICATE_OPERATION: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Draw {
    Fresh(EventKind),
    Duplicate,
}

/// One request of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedEvent {
    /// Index of the broadcast's message the event is about.
    pub message: u32,
    pub kind: EventKind,
    /// Index of the event whose envelope this request posts: its own, or
    /// for a duplicate an earlier delivery's.
    pub source: u32,
}

impl PlannedEvent {
    /// Returns the generator's operation of the request.
    pub fn operation(&self, index: u64) -> usize {
        if u64::from(self.source) == index {
            self.kind.index()
        } else {
            DUPLICATE_OPERATION
        }
    }
}

/// The events of a run, in the order they are due.
#[derive(Clone, Debug)]
pub struct Plan {
    pub events: Vec<PlannedEvent>,
}

impl Plan {
    /// Plans `count` events over `messages` messages from `seed`, keeping a
    /// bounce and a delivery, open or click of one message at least `guard`
    /// events apart where a message allows it.
    pub fn new(seed: u64, messages: u32, count: u32, guard: u32) -> Self {
        assert!(messages > 0, "a plan needs at least one message");
        let mut rng = Rng::for_stream(seed, EVENTS_STREAM);
        let mut conflicts = Conflicts::new(messages as usize, guard);
        let mut recent: VecDeque<u32> = VecDeque::with_capacity(RECENT_DELIVERIES);
        let mut events = Vec::with_capacity(count as usize);

        for index in 0..count {
            let draw = pick(rng.below(WEIGHT_TOTAL));
            // A duplicate repeats a recent delivery unless its message has
            // bounced since; otherwise it becomes a new delivery.
            let duplicate = match draw {
                Draw::Duplicate if !recent.is_empty() => {
                    let source = recent[rng.below(recent.len() as u64) as usize];
                    let original: PlannedEvent = events[source as usize];
                    (!conflicts.conflicts(index, original.message, EventKind::Delivery))
                        .then_some(original)
                }
                _ => None,
            };
            let event = match (duplicate, draw) {
                (Some(original), _) => original,
                (None, Draw::Fresh(kind)) => PlannedEvent {
                    message: conflicts.choose(index, kind, &mut rng),
                    kind,
                    source: index,
                },
                (None, Draw::Duplicate) => PlannedEvent {
                    message: conflicts.choose(index, EventKind::Delivery, &mut rng),
                    kind: EventKind::Delivery,
                    source: index,
                },
            };

            conflicts.record(index, event.message, event.kind);
            if event.kind == EventKind::Delivery && event.source == index {
                if recent.len() == RECENT_DELIVERIES {
                    recent.pop_front();
                }
                recent.push_back(index);
            }
            events.push(event);
        }
        Self { events }
    }

    /// Returns the event due `index`-th; the ceiling phases send more
    /// requests than the plan has and start over.
    pub fn get(&self, index: u64) -> PlannedEvent {
        self.events[(index % self.events.len() as u64) as usize]
    }
}

fn pick(draw: u64) -> Draw {
    let mut left = draw;
    for (kind, weight) in WEIGHTS {
        if left < weight {
            return kind;
        }
        left -= weight;
    }
    Draw::Duplicate
}

/// The last event index of each message's bounces and of its deliveries,
/// opens and clicks.
struct Conflicts {
    last_bounce: Vec<Option<u32>>,
    last_delivery: Vec<Option<u32>>,
    guard: u32,
}

impl Conflicts {
    fn new(messages: usize, guard: u32) -> Self {
        Self {
            last_bounce: vec![None; messages],
            last_delivery: vec![None; messages],
            guard,
        }
    }

    fn conflicts(&self, index: u32, message: u32, kind: EventKind) -> bool {
        let near = |last: Option<u32>| last.is_some_and(|at| index - at < self.guard);
        let message = message as usize;
        match kind {
            EventKind::Bounce => near(self.last_delivery[message]),
            kind if kind.proves_delivery() => near(self.last_bounce[message]),
            _ => false,
        }
    }

    /// Draws a message for a new event, avoiding a conflict when one of a
    /// few draws allows it.
    fn choose(&self, index: u32, kind: EventKind, rng: &mut Rng) -> u32 {
        let messages = self.last_bounce.len() as u64;
        let mut message = rng.below(messages) as u32;
        for _ in 1..MESSAGE_TRIES {
            if !self.conflicts(index, message, kind) {
                break;
            }
            message = rng.below(messages) as u32;
        }
        message
    }

    fn record(&mut self, index: u32, message: u32, kind: EventKind) {
        let message = message as usize;
        if kind == EventKind::Bounce {
            self.last_bounce[message] = Some(index);
        } else if kind.proves_delivery() {
            self.last_delivery[message] = Some(index);
        }
    }
}

/// Distinct facts per counter of the batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub delivered: u64,
    pub opened: u64,
    pub clicked: u64,
    pub bounced: u64,
    pub complained: u64,
}

#[derive(Clone, Copy, Default)]
struct MessageFacts {
    delivered: bool,
    opened: bool,
    clicked: bool,
    bounced: bool,
    complained: bool,
}

/// Computes the facts the store records from the events of `plan` that
/// `accepted` reports as accepted, applied in plan order. The first envelope
/// of each id counts and its repetitions do not. An open or click records
/// the delivery too, and a bounced message records no later delivery.
pub fn expected_facts(plan: &Plan, messages: usize, accepted: impl Fn(usize) -> bool) -> Facts {
    let mut state = vec![MessageFacts::default(); messages];
    let mut seen = vec![false; plan.events.len()];
    let mut facts = Facts::default();
    for (index, event) in plan.events.iter().enumerate() {
        if !accepted(index) || std::mem::replace(&mut seen[event.source as usize], true) {
            continue;
        }
        let message = &mut state[event.message as usize];
        let first = |flag: &mut bool, count: &mut u64| {
            if !*flag {
                *flag = true;
                *count += 1;
            }
        };
        match event.kind {
            EventKind::Open => first(&mut message.opened, &mut facts.opened),
            EventKind::Click => first(&mut message.clicked, &mut facts.clicked),
            EventKind::Bounce => first(&mut message.bounced, &mut facts.bounced),
            EventKind::Complaint => first(&mut message.complained, &mut facts.complained),
            EventKind::Delivery => {}
        }
        if event.kind.proves_delivery() && !message.bounced {
            first(&mut message.delivered, &mut facts.delivered);
        }
    }
    facts
}

/// The envelope fields besides the event: the account, the batch and the
/// time of the first event.
pub struct EnvelopeContext {
    pub account: String,
    pub batch_id: String,
    pub organization_id: String,
    /// Time of the event due first; event `i` happens `i / rate` later.
    pub start: DateTime<Utc>,
    pub rate: f64,
}

/// Builds the EventBridge envelope of the `index`-th event of a plan, the
/// SES event-publishing record of `event` for `message_id` sent to
/// `recipient`. The same `index` gives the same bytes, so a duplicate is an
/// exact repetition.
pub fn envelope(
    context: &EnvelopeContext,
    index: u64,
    kind: EventKind,
    message_id: &str,
    recipient: &str,
) -> Value {
    let at =
        context.start + ChronoDuration::microseconds((index as f64 * 1e6 / context.rate) as i64);
    let sent_at = context.start - ChronoDuration::seconds(30);
    let time = at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let subject = "Hello from wrapsd load";
    let mut detail = json!({
        "eventType": kind.event_type(),
        "mail": {
            "timestamp": sent_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "source": "wrapsd load <news@example.com>",
            "sendingAccountId": context.account,
            "messageId": message_id,
            "destination": [recipient],
            "headersTruncated": false,
            "commonHeaders": {
                "from": ["wrapsd load <news@example.com>"],
                "to": [recipient],
                "messageId": message_id,
                "subject": subject,
            },
            "tags": {
                "ses:configuration-set": ["wraps-email-tracking"],
                "batchId": [context.batch_id],
                "organizationId": [context.organization_id],
            },
        },
    });
    let (field, object) = match kind {
        EventKind::Delivery => (
            "delivery",
            json!({
                "timestamp": time,
                "processingTimeMillis": 640,
                "recipients": [recipient],
                "smtpResponse": "250 2.0.0 OK",
                "reportingMTA": "a8-12.smtp-out.us-east-1.amazonses.com",
            }),
        ),
        EventKind::Open => (
            "open",
            json!({ "timestamp": time, "userAgent": "Mozilla/5.0", "ipAddress": "198.51.100.7" }),
        ),
        EventKind::Click => (
            "click",
            json!({
                "timestamp": time,
                "userAgent": "Mozilla/5.0",
                "ipAddress": "198.51.100.7",
                "link": "https://example.org/load-test",
                "linkTags": {},
            }),
        ),
        EventKind::Bounce => (
            "bounce",
            json!({
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "bouncedRecipients": [{
                    "emailAddress": recipient,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }],
                "timestamp": time,
                "feedbackId": event_id(context, index, 1),
                "reportingMTA": "dns; a8-12.smtp-out.us-east-1.amazonses.com",
            }),
        ),
        EventKind::Complaint => (
            "complaint",
            json!({
                "complainedRecipients": [{ "emailAddress": recipient }],
                "timestamp": time,
                "feedbackId": event_id(context, index, 1),
                "complaintFeedbackType": "abuse",
            }),
        ),
    };
    detail[field] = object;

    json!({
        "version": "0",
        "id": event_id(context, index, 0),
        "detail-type": kind.detail_type(),
        "source": "aws.ses",
        "account": context.account,
        "time": time,
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    })
}

/// A version 4 UUID drawn from the event's index, unique within a run and
/// across runs (the start time is part of the draw).
fn event_id(context: &EnvelopeContext, index: u64, purpose: u64) -> String {
    let micros = context.start.timestamp_micros() as u64;
    let mut rng = Rng::new(micros ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (purpose << 62));
    let mut bytes = [0_u8; 16];
    bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(message: u32, kind: EventKind, source: u32) -> PlannedEvent {
        PlannedEvent {
            message,
            kind,
            source,
        }
    }

    #[test]
    fn weights_sum_to_the_total() {
        let sum: u64 = WEIGHTS.iter().map(|(_, weight)| weight).sum();
        assert_eq!(sum, WEIGHT_TOTAL);
        assert_eq!(pick(0), Draw::Fresh(EventKind::Delivery));
        assert_eq!(pick(WEIGHT_TOTAL - 1), Draw::Duplicate);
    }

    #[test]
    fn plan_is_seeded_and_follows_the_mix() {
        let plan = Plan::new(7, 10_000, 100_000, 5_000);
        assert_eq!(plan.events, Plan::new(7, 10_000, 100_000, 5_000).events);
        let count = |operation: usize| {
            plan.events
                .iter()
                .enumerate()
                .filter(|(index, event)| event.operation(*index as u64) == operation)
                .count()
        };
        let duplicates = count(DUPLICATE_OPERATION);
        assert!((4_000..6_000).contains(&duplicates), "{duplicates}");
        let bounces = count(EventKind::Bounce.index());
        assert!((1_500..2_500).contains(&bounces), "{bounces}");
        let complaints = count(EventKind::Complaint.index());
        assert!((50..150).contains(&complaints), "{complaints}");
    }

    #[test]
    fn duplicates_repeat_an_earlier_delivery() {
        let plan = Plan::new(3, 1_000, 20_000, 500);
        for (index, event) in plan.events.iter().enumerate() {
            if event.source as usize != index {
                let original = plan.events[event.source as usize];
                assert!((event.source as usize) < index);
                assert_eq!(original.kind, EventKind::Delivery);
                assert_eq!(original.message, event.message);
            }
        }
    }

    #[test]
    fn plan_keeps_bounces_away_from_deliveries() {
        let guard = 500;
        let plan = Plan::new(11, 10_000, 50_000, guard);
        let mut last: Vec<(Option<usize>, Option<usize>)> = vec![(None, None); 10_000];
        for (index, event) in plan.events.iter().enumerate() {
            let (bounce, delivery) = &mut last[event.message as usize];
            let near = |at: &Option<usize>| at.is_some_and(|at| index - at < guard as usize);
            if event.kind == EventKind::Bounce {
                assert!(!near(delivery), "bounce {index} too close to a delivery");
                *bounce = Some(index);
            } else if event.kind.proves_delivery() {
                assert!(!near(bounce), "event {index} too close to a bounce");
                *delivery = Some(index);
            }
        }
    }

    #[test]
    fn expected_facts_count_first_facts_only() {
        let plan = Plan {
            events: vec![
                event(0, EventKind::Delivery, 0),
                event(0, EventKind::Delivery, 1),
                event(0, EventKind::Delivery, 0),
                event(1, EventKind::Open, 3),
                event(1, EventKind::Click, 4),
                event(2, EventKind::Bounce, 5),
                event(2, EventKind::Delivery, 6),
                event(2, EventKind::Open, 7),
                event(3, EventKind::Complaint, 8),
                event(3, EventKind::Complaint, 9),
            ],
        };
        let facts = expected_facts(&plan, 4, |_| true);
        assert_eq!(
            facts,
            Facts {
                delivered: 2,
                opened: 2,
                clicked: 1,
                bounced: 1,
                complained: 1,
            }
        );
    }

    #[test]
    fn expected_facts_skip_rejected_events() {
        let plan = Plan {
            events: vec![
                event(0, EventKind::Delivery, 0),
                event(0, EventKind::Delivery, 0),
                event(1, EventKind::Bounce, 2),
                event(1, EventKind::Delivery, 3),
            ],
        };
        // The first post failed and its duplicate was accepted; the bounce
        // failed, so the later delivery counts.
        let facts = expected_facts(&plan, 2, |index| index == 1 || index == 3);
        assert_eq!(facts.delivered, 2);
        assert_eq!(facts.bounced, 0);
    }

    #[test]
    fn envelope_repeats_exactly_for_the_same_index() {
        let context = EnvelopeContext {
            account: "111122223333".to_owned(),
            batch_id: "b".to_owned(),
            organization_id: "o".to_owned(),
            start: Utc::now(),
            rate: 5_000.0,
        };
        let first = envelope(&context, 12, EventKind::Bounce, "m-1", "a@example.com");
        let again = envelope(&context, 12, EventKind::Bounce, "m-1", "a@example.com");
        assert_eq!(first, again);
        assert_ne!(
            first["id"],
            envelope(&context, 13, EventKind::Bounce, "m-1", "a@example.com")["id"]
        );
        assert_eq!(first["detail"]["eventType"], "Bounce");
        assert_eq!(first["detail"]["bounce"]["bounceType"], "Permanent");
        assert_eq!(first["detail"]["mail"]["messageId"], "m-1");
        assert!(uuid::Uuid::parse_str(first["id"].as_str().unwrap()).is_ok());
    }
}
