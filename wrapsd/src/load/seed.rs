//! Seeded data: the contacts created before a run and the new contacts the
//! load generator posts. The same seed gives the same addresses, names and
//! operation sequence on every machine and build.

use serde_json::{json, Map, Value};
use store::ImportRow;

const FIRST_NAMES: [&str; 12] = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Niklaus",
    "Sophie", "Tony",
];
const LAST_NAMES: [&str; 10] = [
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman",
    "Wirth",
];
const COMPANIES: [&str; 6] = [
    "Example Ltd",
    "Acme GmbH",
    "Initech",
    "Globex SA",
    "Umbrella BV",
    "Hooli Inc",
];
const PLANS: [&str; 3] = ["free", "pro", "business"];

/// A 64-bit generator with a fixed algorithm (SplitMix64), so a seed means
/// the same sequence whatever version of any crate is built. The load-tests
/// crate keeps its own copy private to that crate.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// Creates a generator whose state starts at `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator for one use of the seed (`stream`), independent of the
    /// other uses, so adding draws to one does not shift another.
    pub fn for_stream(seed: u64, stream: u64) -> Self {
        let mut base = Self::new(seed ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03));
        Self::new(base.next_u64())
    }

    /// Advances the state and returns its next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..bound`; `bound` must be above 0. The modulo bias is
    /// below `bound / 2^64`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Stream of the seed for the contacts created before a run.
pub const CONTACTS_STREAM: u64 = 1;
/// Stream of the seed for the load's operations and request parameters.
pub const SCHEDULE_STREAM: u64 = 2;

/// Generates the `count` contacts created before a run, at `@example.com` addresses
/// that differ by their index.
pub fn contacts(seed: u64, count: u64) -> Vec<ImportRow> {
    let mut rng = Rng::for_stream(seed, CONTACTS_STREAM);
    (0..count)
        .map(|index| {
            let person = Person::draw(&mut rng);
            let mut properties = Map::new();
            properties.insert("plan".into(), json!(rng.pick(&PLANS)));
            properties.insert("score".into(), json!(rng.below(100)));
            ImportRow {
                email: person.email(index, "example.com"),
                first_name: Some(person.first.to_owned()),
                last_name: Some(person.last.to_owned()),
                company: Some(rng.pick(&COMPANIES).to_owned()),
                properties,
                ..ImportRow::default()
            }
        })
        .collect()
}

/// Builds the body of the `index`-th `POST /v1/contacts` of a run, at an
/// `@example.net` address no contact created before the run has. `draw`
/// is a random value from the run's schedule.
pub fn new_contact_body(index: u64, draw: u64) -> Value {
    let mut rng = Rng::new(draw);
    let person = Person::draw(&mut rng);
    json!({
        "email": person.email(index, "example.net"),
        "firstName": person.first,
        "lastName": person.last,
        "company": rng.pick(&COMPANIES),
        "properties": { "plan": rng.pick(&PLANS), "source": "load-test" },
    })
}

struct Person {
    first: &'static str,
    last: &'static str,
    tag: u32,
}

impl Person {
    fn draw(rng: &mut Rng) -> Self {
        Self {
            first: rng.pick(&FIRST_NAMES),
            last: rng.pick(&LAST_NAMES),
            tag: (rng.next_u64() >> 40) as u32,
        }
    }

    fn email(&self, index: u64, domain: &str) -> String {
        format!(
            "{}.{}.{index}.{:06x}@{domain}",
            self.first.to_ascii_lowercase(),
            self.last.to_ascii_lowercase(),
            self.tag
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn splitmix64_matches_its_reference_output() {
        // Seed 1234567, as published with the algorithm's reference code.
        let mut rng = Rng::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn same_seed_gives_same_contacts() {
        let first = contacts(42, 50);
        let second = contacts(42, 50);
        let emails = |rows: &[ImportRow]| rows.iter().map(|r| r.email.clone()).collect::<Vec<_>>();
        assert_eq!(emails(&first), emails(&second));
        assert_ne!(emails(&first), emails(&contacts(43, 50)));
    }

    #[test]
    fn contact_emails_are_distinct_and_valid() {
        let rows = contacts(1, 2_000);
        let distinct: HashSet<&str> = rows.iter().map(|r| r.email.as_str()).collect();
        assert_eq!(distinct.len(), rows.len());
        assert!(rows
            .iter()
            .all(|r| load_tests::address::is_valid_address(&r.email)));
    }

    #[test]
    fn new_contacts_use_another_domain() {
        let body = new_contact_body(3, 99);
        let email = body["email"].as_str().unwrap();
        assert!(email.ends_with("@example.net"), "{email}");
        assert!(email.contains(".3."), "{email}");
    }
}
