//! Plan values the API consults. Plan ids outside the table, and a missing
//! plan, are treated as `free`.

/// AWS account connections an organisation may register on `plan`, or
/// `None` for no limit. Values of the hosted service: free 1, pro 1,
/// starter 3, business, growth and scale unlimited.
// TODO: read these from the plan configuration once plans are configurable
// per install; until then they are the hosted service's defaults.
pub fn aws_account_limit(plan: &str) -> Option<u32> {
    match plan {
        "pro" => Some(1),
        "starter" => Some(3),
        "business" | "growth" | "scale" => None,
        _ => Some(1),
    }
}

/// Plan ids an organisation may be given.
pub const PLAN_IDS: [&str; 6] = ["free", "pro", "business", "starter", "growth", "scale"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_plan_counts_as_free() {
        assert_eq!(aws_account_limit("constructor"), Some(1));
        assert_eq!(aws_account_limit("business"), None);
    }
}
