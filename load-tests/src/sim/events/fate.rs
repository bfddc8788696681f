//! The seeded fate of an accepted message: bounce or delivery, then complaint,
//! open and click.
//!
//! The decision is a pure function of the seed and the message's recipients. Two runs
//! with the same seed that send to the same addresses therefore produce the same events,
//! whatever the order of the calls, the concurrency and the message ids. Message ids are
//! not part of the key because the simulator puts its start time into them.

use crate::address::bare_address;
use crate::rng::SplitMix64;

/// Probabilities of each outcome, each between 0 and 1.
///
/// `bounce` is a fraction of accepted messages. `complaint`, `open` and `click` are
/// fractions of delivered messages, drawn independently of each other, so a click
/// without an open is possible, as with real mail clients that block images.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EventRatios {
    pub bounce: f64,
    pub complaint: f64,
    pub open: f64,
    pub click: f64,
}

impl EventRatios {
    /// Names and values, for validation and logs.
    pub(crate) fn named(&self) -> [(&'static str, f64); 4] {
        [
            ("bounce_ratio", self.bounce),
            ("complaint_ratio", self.complaint),
            ("open_ratio", self.open),
            ("click_ratio", self.click),
        ]
    }
}

/// The outcome of one message. A bounced message is never delivered, opened, clicked or
/// complained about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Fate {
    pub(crate) bounced: bool,
    pub(crate) complained: bool,
    pub(crate) opened: bool,
    pub(crate) clicked: bool,
}

/// Decides the outcome of a message to `recipients` (To, Cc and Bcc together).
///
/// Four values are always drawn, one per outcome, so that changing one ratio never
/// changes the other outcomes of a message.
pub(crate) fn decide(seed: u64, recipients: &[String], ratios: &EventRatios) -> Fate {
    let mut rng = SplitMix64::new(seed ^ recipients_hash(recipients));
    let bounce_draw = rng.next_f64();
    let complaint_draw = rng.next_f64();
    let open_draw = rng.next_f64();
    let click_draw = rng.next_f64();

    if bounce_draw < ratios.bounce {
        return Fate {
            bounced: true,
            ..Fate::default()
        };
    }
    Fate {
        bounced: false,
        complained: complaint_draw < ratios.complaint,
        opened: open_draw < ratios.open,
        clicked: click_draw < ratios.click,
    }
}

/// Hashes the lower-cased bare addresses with 64-bit FNV-1a, whose output is fixed by
/// its definition (unlike `std`'s `DefaultHasher`), so fates stay the same across Rust
/// releases.
fn recipients_hash(recipients: &[String]) -> u64 {
    let mut hash = FNV_OFFSET_BASIS;
    for recipient in recipients {
        let address = bare_address(recipient).to_lowercase();
        hash = fnv1a(hash, address.as_bytes());
        // A separator that no address contains keeps ["ab", "c"] apart from ["a", "bc"].
        hash = fnv1a(hash, b"\n");
    }
    hash
}

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Continues a 64-bit FNV-1a hash over `bytes`.
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(count: usize) -> Vec<Vec<String>> {
        (0..count)
            .map(|i| vec![format!("user{i}@example.com")])
            .collect()
    }

    fn all(bounce: f64, complaint: f64, open: f64, click: f64) -> EventRatios {
        EventRatios {
            bounce,
            complaint,
            open,
            click,
        }
    }

    #[test]
    fn fnv1a_matches_published_vectors() {
        // Test vectors of the FNV reference implementation.
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn recipients_hash_separates_addresses() {
        let joined = recipients_hash(&["ab@x.io".to_owned(), "c@x.io".to_owned()]);
        let split = recipients_hash(&["a".to_owned(), "b@x.ioc@x.io".to_owned()]);
        assert_ne!(joined, split);
        assert_eq!(
            recipients_hash(&["A@X.io".to_owned()]),
            recipients_hash(&["a@x.io".to_owned()])
        );
    }

    #[test]
    fn same_seed_same_fate() {
        let ratios = all(0.3, 0.3, 0.5, 0.5);
        for recipients in addresses(200) {
            assert_eq!(
                decide(7, &recipients, &ratios),
                decide(7, &recipients, &ratios)
            );
        }
    }

    #[test]
    fn fate_ignores_display_name_and_case() {
        let ratios = all(0.5, 0.5, 0.5, 0.5);
        for seed in 0..50 {
            assert_eq!(
                decide(seed, &["Ada <ADA@example.com>".to_owned()], &ratios),
                decide(seed, &["ada@example.com".to_owned()], &ratios)
            );
        }
    }

    #[test]
    fn other_seed_changes_fates() {
        let ratios = all(0.5, 0.0, 0.0, 0.0);
        let bounced = |seed| {
            addresses(200)
                .iter()
                .map(|recipients| decide(seed, recipients, &ratios).bounced)
                .collect::<Vec<_>>()
        };
        assert_ne!(bounced(1), bounced(2));
    }

    #[test]
    fn bounced_message_has_no_engagement() {
        let ratios = all(0.5, 1.0, 1.0, 1.0);
        for recipients in addresses(500) {
            let fate = decide(3, &recipients, &ratios);
            if fate.bounced {
                assert_eq!(
                    fate,
                    Fate {
                        bounced: true,
                        ..Fate::default()
                    }
                );
            } else {
                assert!(fate.complained);
                assert!(fate.opened);
                assert!(fate.clicked);
            }
        }
    }

    #[test]
    fn raising_open_ratio_keeps_bounces() {
        let low = all(0.2, 0.1, 0.1, 0.1);
        let high = EventRatios { open: 0.9, ..low };
        for recipients in addresses(500) {
            let before = decide(11, &recipients, &low);
            let after = decide(11, &recipients, &high);
            assert_eq!(before.bounced, after.bounced);
            assert_eq!(before.complained, after.complained);
            assert_eq!(before.clicked, after.clicked);
        }
    }

    #[test]
    fn ratios_are_approximated() {
        let ratios = all(0.1, 0.05, 0.4, 0.2);
        let fates: Vec<Fate> = addresses(20_000)
            .iter()
            .map(|recipients| decide(5, recipients, &ratios))
            .collect();
        let delivered = fates.iter().filter(|fate| !fate.bounced).count() as f64;
        let share = |count: usize, of: f64| count as f64 / of;

        let bounced = fates.iter().filter(|fate| fate.bounced).count();
        let opened = fates.iter().filter(|fate| fate.opened).count();
        let clicked = fates.iter().filter(|fate| fate.clicked).count();
        let complained = fates.iter().filter(|fate| fate.complained).count();
        assert!((share(bounced, 20_000.0) - 0.1).abs() < 0.01, "{bounced}");
        assert!((share(opened, delivered) - 0.4).abs() < 0.015, "{opened}");
        assert!((share(clicked, delivered) - 0.2).abs() < 0.015, "{clicked}");
        assert!(
            (share(complained, delivered) - 0.05).abs() < 0.01,
            "{complained}"
        );
    }
}
