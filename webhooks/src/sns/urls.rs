//! Checks on the URLs inside SNS messages: `SigningCertURL`, checked before
//! any certificate is fetched, and `SubscribeURL`, checked before the caller
//! confirms a subscription.
//!
//! URLs are parsed with the WHATWG rules of the `url` crate, which HTTP
//! clients such as `reqwest` use too, so the host checked here is the host
//! that a request to the returned string would contact.

use url::{Host, Url};

use super::SnsError;

/// Checks that a `SigningCertURL` points at an SNS certificate and returns
/// it in normalised form, which is the string to pass to the fetcher.
///
/// Accepted: `https://sns.<region>.amazonaws.com/<path>.pem` (commercial
/// and GovCloud regions, such as `us-east-1` or `us-gov-west-1`) and
/// `https://sns.cn-<region>.amazonaws.com.cn/<path>.pem` (China regions).
/// Rejected: any other scheme or host, user information, an explicit port,
/// a query or fragment, and a path that does not end in `.pem`.
pub fn check_signing_cert_url(raw: &str) -> Result<String, SnsError> {
    let url = parse_sns_url(raw).map_err(SnsError::InvalidCertUrl)?;
    if url.query().is_some() {
        return Err(SnsError::InvalidCertUrl("URL has a query"));
    }
    if !url.path().ends_with(".pem") {
        return Err(SnsError::InvalidCertUrl("path does not end in .pem"));
    }
    Ok(url.into())
}

/// Checks that a `SubscribeURL` is an SNS `ConfirmSubscription` request and
/// returns it in normalised form, which is the string to fetch.
///
/// The URL must pass the scheme and host rules of
/// [`check_signing_cert_url`], have the path `/`, and carry the query
/// parameter `Action=ConfirmSubscription`. The signature already covers
/// `SubscribeURL`; this check keeps a confirmation fetch from reaching any
/// other host even if a signature check were skipped by mistake.
pub fn check_subscribe_url(raw: &str) -> Result<String, SnsError> {
    let url = parse_sns_url(raw).map_err(SnsError::InvalidSubscribeUrl)?;
    if url.path() != "/" {
        return Err(SnsError::InvalidSubscribeUrl("path is not /"));
    }
    let is_confirmation = url
        .query_pairs()
        .any(|(name, value)| name == "Action" && value == "ConfirmSubscription");
    if !is_confirmation {
        return Err(SnsError::InvalidSubscribeUrl(
            "query lacks Action=ConfirmSubscription",
        ));
    }
    Ok(url.into())
}

/// Parses an https URL on an SNS host with no user information, port or
/// fragment. The error is a short reason for [`SnsError`].
fn parse_sns_url(raw: &str) -> Result<Url, &'static str> {
    let url = Url::parse(raw).map_err(|_| "not a valid URL")?;
    if url.scheme() != "https" {
        return Err("scheme is not https");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("URL contains user information");
    }
    if url.port().is_some() {
        return Err("URL names a port");
    }
    if url.fragment().is_some() {
        return Err("URL has a fragment");
    }
    let Some(Host::Domain(host)) = url.host() else {
        return Err("host is not a domain name");
    };
    if !is_sns_host(host) {
        return Err("host is not an SNS endpoint");
    }
    Ok(url)
}

/// Returns true for `sns.<region>.amazonaws.com` and
/// `sns.cn-<region>.amazonaws.com.cn`. The `url` crate has already
/// lower-cased the host.
fn is_sns_host(host: &str) -> bool {
    let Some(rest) = host.strip_prefix("sns.") else {
        return false;
    };
    if let Some(region) = rest.strip_suffix(".amazonaws.com.cn") {
        return region.starts_with("cn-") && is_region_name(region);
    }
    match rest.strip_suffix(".amazonaws.com") {
        Some(region) => is_region_name(region),
        None => false,
    }
}

/// Returns true for names shaped like AWS regions: a two-letter prefix, one
/// or more lower-case words, and a number of one or two digits, joined by
/// hyphens (`us-east-1`, `us-gov-west-1`, `ap-southeast-5`,
/// `cn-northwest-1`).
fn is_region_name(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let [prefix, words @ .., number] = parts.as_slice() else {
        return false;
    };
    let is_word = |part: &&str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase());
    prefix.len() == 2
        && is_word(prefix)
        && !words.is_empty()
        && words.iter().all(is_word)
        && !number.is_empty()
        && number.len() <= 2
        && number.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for region in [
            "us-east-1",
            "eu-west-1",
            "us-gov-west-1",
            "ap-southeast-5",
            "cn-north-1",
        ] {
            assert!(is_region_name(region), "{region} should be accepted");
        }
        for region in [
            "",
            "us",
            "us-1",
            "evil",
            "us-east-",
            "-east-1",
            "us-east-x",
            "u1-east-1",
            "us-east-123",
        ] {
            assert!(!is_region_name(region), "{region:?} should be rejected");
        }
    }

    #[test]
    fn china_host_needs_china_region() {
        assert!(is_sns_host("sns.cn-north-1.amazonaws.com.cn"));
        assert!(!is_sns_host("sns.us-east-1.amazonaws.com.cn"));
    }
}
