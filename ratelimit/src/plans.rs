//! The plan table: what each plan may do and how fast.
//!
//! The defaults are the hosted service's values. An install overrides any of
//! them, or adds plans, in the `[plans.<id>]` tables of its configuration
//! file; a value of `-1` means unlimited. Any plan id missing from the table,
//! a null plan and odd strings such as `constructor` included, is `free`.
//!
//! ```toml
//! [plans.pro]
//! api_requests_per_minute = 3000
//! sends_per_second = 200
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::gcra::Window;

/// The limits and the rank of one plan. `None` is unlimited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub id: String,
    /// Feature-gate rank: free 0, pro 1, business 2.
    pub rank: u8,
    /// Requests per minute on the rate-limited API groups.
    pub api_requests_per_minute: Option<u64>,
    /// Requests per day on the same groups.
    pub api_requests_per_day: Option<u64>,
    /// Messages per second across every AWS account of the organisation.
    pub sends_per_second: Option<u64>,
    /// Messages per day across every AWS account of the organisation.
    pub sends_per_day: Option<u64>,
    /// Custom events per calendar month (UTC), before the 10% grace.
    pub monthly_events: Option<u64>,
    /// AWS account connections.
    pub aws_accounts: Option<u32>,
}

impl Plan {
    /// Returns the API windows of this plan: per minute, then per day.
    pub fn api_windows(&self) -> Vec<Window> {
        let mut windows = Vec::with_capacity(2);
        if let Some(limit) = self.api_requests_per_minute {
            windows.push(Window::per_minute(limit));
        }
        if let Some(limit) = self.api_requests_per_day {
            windows.push(Window::per_day(limit));
        }
        windows
    }

    /// Returns the send windows of this plan: per second, then per day.
    pub fn send_windows(&self) -> Vec<Window> {
        let mut windows = Vec::with_capacity(2);
        if let Some(limit) = self.sends_per_second {
            windows.push(Window::per_second(limit));
        }
        if let Some(limit) = self.sends_per_day {
            windows.push(Window {
                limit,
                period: Duration::from_secs(86_400),
            });
        }
        windows
    }
}

/// Features behind a plan gate, with the lowest plan rank that has them.
pub const FEATURES: [(&str, u8); 10] = [
    ("batch", 1),
    ("topics", 1),
    ("segments", 1),
    ("campaigns", 1),
    ("workflows", 0),
    ("events", 0),
    ("advancedSegments", 2),
    ("customRetention", 2),
    ("prioritySLA", 2),
    ("sso", 2),
];

/// The plan table and whether limits and gates apply at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plans {
    plans: BTreeMap<String, Plan>,
    /// False on a single-tenant install: no API limit, no plan send limit,
    /// no feature gate, no event quota. SES's own quotas always apply.
    pub enforced: bool,
}

/// A plan's settings as written in the configuration file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    pub rank: Option<u8>,
    pub api_requests_per_minute: Option<i64>,
    pub api_requests_per_day: Option<i64>,
    pub sends_per_second: Option<i64>,
    pub sends_per_day: Option<i64>,
    pub monthly_events: Option<i64>,
    pub aws_accounts: Option<i64>,
}

/// A plan setting that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("plans.{plan}.{setting}: {problem}")]
pub struct PlanError {
    pub plan: String,
    pub setting: &'static str,
    pub problem: String,
}

impl Default for Plans {
    fn default() -> Self {
        Self::hosted()
    }
}

impl Plans {
    /// Returns the hosted service's plans.
    pub fn hosted() -> Self {
        let plan = |id: &str, rank, per_minute, monthly_events, aws_accounts| Plan {
            id: id.to_owned(),
            rank,
            api_requests_per_minute: Some(per_minute),
            api_requests_per_day: None,
            sends_per_second: None,
            sends_per_day: None,
            monthly_events,
            aws_accounts,
        };
        let plans = [
            plan("free", 0, 50, Some(5_000), Some(1)),
            plan("pro", 1, 2_000, None, Some(1)),
            plan("business", 2, 5_000, None, None),
            plan("starter", 1, 2_000, None, Some(3)),
            plan("growth", 2, 5_000, None, None),
            plan("scale", 2, 5_000, None, None),
        ];
        Self {
            plans: plans.into_iter().map(|p| (p.id.clone(), p)).collect(),
            enforced: true,
        }
    }

    /// Returns the hosted plans with `overrides` applied. A plan id not in
    /// the hosted table starts from `free`'s values.
    pub fn with_overrides(
        overrides: &BTreeMap<String, PlanSettings>,
        enforced: bool,
    ) -> Result<Self, PlanError> {
        let mut table = Self::hosted();
        table.enforced = enforced;
        for (id, settings) in overrides {
            if id.is_empty()
                || id.len() > 64
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(PlanError {
                    plan: id.clone(),
                    setting: "id",
                    problem: "a plan id is 1 to 64 letters, digits, '-' or '_'".into(),
                });
            }
            let mut plan = table.plans.get(id).cloned().unwrap_or_else(|| Plan {
                id: id.clone(),
                ..table.plans["free"].clone()
            });
            let limit =
                |setting: &'static str, value: Option<i64>, current: Option<u64>| match value {
                    None => Ok(current),
                    Some(-1) => Ok(None),
                    Some(value) if value >= 0 => Ok(Some(value as u64)),
                    Some(value) => Err(PlanError {
                        plan: id.clone(),
                        setting,
                        problem: format!("{value} is neither -1 (unlimited) nor a count"),
                    }),
                };
            plan.api_requests_per_minute = limit(
                "api_requests_per_minute",
                settings.api_requests_per_minute,
                plan.api_requests_per_minute,
            )?;
            plan.api_requests_per_day = limit(
                "api_requests_per_day",
                settings.api_requests_per_day,
                plan.api_requests_per_day,
            )?;
            plan.sends_per_second = limit(
                "sends_per_second",
                settings.sends_per_second,
                plan.sends_per_second,
            )?;
            plan.sends_per_day =
                limit("sends_per_day", settings.sends_per_day, plan.sends_per_day)?;
            plan.monthly_events = limit(
                "monthly_events",
                settings.monthly_events,
                plan.monthly_events,
            )?;
            let accounts = limit(
                "aws_accounts",
                settings.aws_accounts,
                plan.aws_accounts.map(u64::from),
            )?;
            plan.aws_accounts = match accounts {
                None => None,
                Some(count) => Some(u32::try_from(count).map_err(|_| PlanError {
                    plan: id.clone(),
                    setting: "aws_accounts",
                    problem: format!("{count} is too large"),
                })?),
            };
            if let Some(rank) = settings.rank {
                if rank > 2 {
                    return Err(PlanError {
                        plan: id.clone(),
                        setting: "rank",
                        problem: format!("{rank} is not 0 (free), 1 (pro) or 2 (business)"),
                    });
                }
                plan.rank = rank;
            }
            table.plans.insert(id.clone(), plan);
        }
        Ok(table)
    }

    /// Parses `[plans.<id>]` tables from TOML text such as a configuration
    /// file's `plans` section.
    pub fn from_toml(text: &str, enforced: bool) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            #[serde(default)]
            plans: BTreeMap<String, PlanSettings>,
        }
        let file: File = toml::from_str(text).map_err(|err| err.to_string())?;
        Self::with_overrides(&file.plans, enforced).map_err(|err| err.to_string())
    }

    /// Returns the plan of `id`, or `free` when `id` is unknown or missing.
    pub fn get(&self, id: Option<&str>) -> &Plan {
        id.and_then(|id| self.plans.get(id))
            .unwrap_or_else(|| &self.plans["free"])
    }

    /// Reports whether `id` names a plan of the table.
    pub fn contains(&self, id: &str) -> bool {
        self.plans.contains_key(id)
    }

    /// Returns every plan id, in sorted order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.plans.keys().map(String::as_str)
    }

    /// Returns the lowest plan rank that has `feature`, or `None` for a
    /// feature the table does not know.
    pub fn feature_rank(feature: &str) -> Option<u8> {
        FEATURES
            .iter()
            .find(|(name, _)| *name == feature)
            .map(|&(_, rank)| rank)
    }

    /// Reports whether plan `id` has `feature`, which is true for every
    /// feature when gates are off.
    pub fn allows(&self, id: Option<&str>, feature: &str) -> bool {
        !self.enforced
            || Self::feature_rank(feature).is_none_or(|minimum| self.get(id).rank >= minimum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosted_values() {
        let plans = Plans::hosted();
        let free = plans.get(Some("free"));
        assert_eq!(free.api_requests_per_minute, Some(50));
        assert_eq!(free.api_requests_per_day, None);
        assert_eq!(free.monthly_events, Some(5_000));
        assert_eq!(free.aws_accounts, Some(1));
        assert_eq!(plans.get(Some("pro")).api_requests_per_minute, Some(2_000));
        assert_eq!(plans.get(Some("starter")).aws_accounts, Some(3));
        assert_eq!(
            plans.get(Some("scale")).api_requests_per_minute,
            Some(5_000)
        );
        assert_eq!(plans.get(Some("business")).aws_accounts, None);
        assert!(plans.get(Some("business")).send_windows().is_empty());
        assert_eq!(plans.ids().count(), 6);
    }

    #[test]
    fn unknown_and_missing_plans_are_free() {
        let plans = Plans::hosted();
        assert_eq!(plans.get(Some("constructor")).id, "free");
        assert_eq!(plans.get(Some("__proto__")).id, "free");
        assert_eq!(plans.get(None).id, "free");
    }

    #[test]
    fn feature_gates_follow_rank() {
        let plans = Plans::hosted();
        assert!(!plans.allows(Some("free"), "batch"));
        assert!(plans.allows(Some("pro"), "batch"));
        assert!(plans.allows(Some("starter"), "segments"));
        assert!(plans.allows(Some("free"), "nothing-like-this"));
        assert!(!plans.allows(Some("pro"), "sso"));
        assert!(plans.allows(Some("scale"), "sso"));
        assert!(plans.allows(Some("free"), "events"));
        assert!(!plans.allows(None, "topics"));
    }

    #[test]
    fn gates_off_allow_everything() {
        let plans = Plans::from_toml("", false).unwrap();
        assert!(plans.allows(Some("free"), "sso"));
    }

    #[test]
    fn overrides_parse() {
        let plans = Plans::from_toml(
            r#"
            [plans.pro]
            api_requests_per_minute = 3000
            sends_per_second = 200
            sends_per_day = 100000

            [plans.free]
            api_requests_per_day = 1000
            monthly_events = -1

            [plans.enterprise]
            rank = 2
            aws_accounts = -1
            "#,
            true,
        )
        .unwrap();
        let pro = plans.get(Some("pro"));
        assert_eq!(pro.api_requests_per_minute, Some(3_000));
        assert_eq!(
            pro.send_windows(),
            vec![Window::per_second(200), Window::per_day(100_000)]
        );
        let free = plans.get(Some("free"));
        assert_eq!(
            free.api_windows(),
            vec![Window::per_minute(50), Window::per_day(1_000)]
        );
        assert_eq!(free.monthly_events, None);
        let enterprise = plans.get(Some("enterprise"));
        assert_eq!(enterprise.rank, 2);
        assert_eq!(enterprise.api_requests_per_minute, Some(50));
        assert_eq!(enterprise.aws_accounts, None);
        assert!(plans.contains("enterprise"));
    }

    #[test]
    fn bad_settings_name_the_setting() {
        let err = Plans::from_toml("[plans.pro]\nsends_per_second = -5\n", true).unwrap_err();
        assert!(err.contains("plans.pro.sends_per_second"), "{err}");
        let err = Plans::from_toml("[plans.pro]\nrank = 7\n", true).unwrap_err();
        assert!(err.contains("plans.pro.rank"), "{err}");
        let err = Plans::from_toml("[plans.pro]\nsend_per_second = 5\n", true).unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
        let err = Plans::from_toml("[plans.\"a b\"]\nrank = 1\n", true).unwrap_err();
        assert!(err.contains("plans.a b.id"), "{err}");
    }
}
