//! Constant-time matching of the `x-wraps-api-key` header against the
//! webhook secrets of every connection with the request's AWS account
//! number.

use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

/// Name of the header that carries the webhook secret.
pub const WEBHOOK_SECRET_HEADER: &str = "x-wraps-api-key";

/// Returns the index of the first candidate equal to `presented`, or `None`.
///
/// Every candidate is compared, whatever matched before. Each comparison runs
/// a constant-time equality on SHA-256 digests. So the time taken depends on
/// the number and lengths of the inputs, but not on where they differ or
/// which candidate matched. An empty `presented` value or an empty
/// candidate never matches, so a connection without a secret cannot be
/// reached by sending an empty header.
pub fn find_matching_secret<S: AsRef<[u8]>>(presented: &[u8], candidates: &[S]) -> Option<usize> {
    if presented.is_empty() {
        return None;
    }
    let presented_digest = Sha256::digest(presented);

    let mut found = Choice::from(0);
    let mut index = 0u64;
    for (position, candidate) in candidates.iter().enumerate() {
        let candidate = candidate.as_ref();
        let candidate_digest = Sha256::digest(candidate);
        let is_equal = presented_digest
            .as_slice()
            .ct_eq(candidate_digest.as_slice())
            & Choice::from(u8::from(!candidate.is_empty()));
        let is_first = is_equal & !found;
        index = u64::conditional_select(&index, &(position as u64), is_first);
        found |= is_equal;
    }

    if bool::from(found) {
        usize::try_from(index).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_right_candidate() {
        let candidates = ["first-secret", "second-secret", "third-secret"];
        assert_eq!(find_matching_secret(b"first-secret", &candidates), Some(0));
        assert_eq!(find_matching_secret(b"second-secret", &candidates), Some(1));
        assert_eq!(find_matching_secret(b"third-secret", &candidates), Some(2));
    }

    #[test]
    fn first_of_duplicates_wins() {
        let candidates = ["other", "shared", "shared"];
        assert_eq!(find_matching_secret(b"shared", &candidates), Some(1));
    }

    #[test]
    fn wrong_secret_does_not_match() {
        let candidates = ["first-secret", "second-secret"];
        assert_eq!(find_matching_secret(b"first-secreT", &candidates), None);
        assert_eq!(find_matching_secret(b"first-secret ", &candidates), None);
        assert_eq!(find_matching_secret(b"first", &candidates), None);
    }

    #[test]
    fn no_candidates_does_not_match() {
        let candidates: [&str; 0] = [];
        assert_eq!(find_matching_secret(b"anything", &candidates), None);
    }

    #[test]
    fn empty_values_never_match() {
        let candidates = ["", "secret"];
        assert_eq!(find_matching_secret(b"", &candidates), None);
        assert_eq!(find_matching_secret(b"secret", &candidates), Some(1));
    }

    #[test]
    fn accepts_owned_candidates() {
        let candidates = vec![String::from("a"), String::from("b")];
        assert_eq!(find_matching_secret(b"b", &candidates), Some(1));
    }
}
