//! Message tags (`EmailTags`, `DefaultEmailTags`, `ReplacementTags`), checked as SES
//! checks them and stored compactly for the records.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::error::SesError;
use super::wire::MessageTag;

/// SES's limit on the length of a message tag's name or value.
const MAX_TAG_CHARS: usize = 256;

/// A message tag stored as one `name=value` string, one allocation instead of two.
/// Checked tags contain only ASCII letters, digits, `_` and `-`, so the first `=`
/// always separates the name from the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tag(Box<str>);

impl Tag {
    fn new(name: &str, value: &str) -> Self {
        Self(format!("{name}={value}").into())
    }

    pub(crate) fn name(&self) -> &str {
        self.0.split_once('=').map_or(&self.0, |(name, _)| name)
    }

    pub(crate) fn value(&self) -> &str {
        self.0.split_once('=').map_or("", |(_, value)| value)
    }
}

/// The tags of one message: those shared by every message of a call (`EmailTags` or
/// `DefaultEmailTags`) and the message's own (`ReplacementTags`), which replace shared
/// tags of the same name. Sharing the call's tags keeps a bulk recipient's record small.
#[derive(Debug, Clone, Default)]
pub(crate) struct TagSet {
    shared: Arc<[Tag]>,
    own: Box<[Tag]>,
}

impl TagSet {
    pub(crate) fn new(shared: Arc<[Tag]>, own: Box<[Tag]>) -> Self {
        Self { shared, own }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.own
            .iter()
            .chain(self.shared.iter())
            .find(|tag| tag.name() == name)
            .map(Tag::value)
    }

    pub(crate) fn to_map(&self) -> BTreeMap<String, String> {
        self.shared
            .iter()
            .chain(self.own.iter())
            .map(|tag| (tag.name().to_owned(), tag.value().to_owned()))
            .collect()
    }
}

/// Checks a tag list and returns it with a later tag replacing an earlier one of the
/// same name. SES allows 1 to 256 ASCII letters, digits, `_` and `-` in a name, and up
/// to 256 of them in a value.
pub(crate) fn checked_tags(tags: &[MessageTag]) -> Result<Vec<Tag>, SesError> {
    let allowed = |text: &str| {
        text.len() <= MAX_TAG_CHARS
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if let Some(tag) = tags
        .iter()
        .find(|tag| tag.name.is_empty() || !allowed(&tag.name) || !allowed(&tag.value))
    {
        return Err(SesError::BadRequest(format!(
            "Message tag {:?} is invalid: names and values may contain only ASCII letters, digits, '_' and '-', at most {MAX_TAG_CHARS} of them.",
            tag.name
        )));
    }

    let mut checked: Vec<Tag> = Vec::with_capacity(tags.len());
    for tag in tags {
        let new = Tag::new(&tag.name, &tag.value);
        match checked
            .iter_mut()
            .find(|existing| existing.name() == tag.name)
        {
            Some(existing) => *existing = new,
            None => checked.push(new),
        }
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(name: &str, value: &str) -> MessageTag {
        MessageTag {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn own_tags_override_shared() {
        let shared = checked_tags(&[tag("batchId", "b1"), tag("kind", "news")]).unwrap();
        let own = checked_tags(&[tag("kind", "promo"), tag("contactId", "c9")]).unwrap();
        let set = TagSet::new(shared.into(), own.into_boxed_slice());

        assert_eq!(set.get("kind"), Some("promo"));
        assert_eq!(set.get("batchId"), Some("b1"));
        let pairs: Vec<(String, String)> = set.to_map().into_iter().collect();
        assert_eq!(
            pairs,
            [
                ("batchId".to_owned(), "b1".to_owned()),
                ("contactId".to_owned(), "c9".to_owned()),
                ("kind".to_owned(), "promo".to_owned()),
            ]
        );
    }

    #[test]
    fn later_tag_of_same_name_wins() {
        let checked = checked_tags(&[tag("kind", "a"), tag("kind", "b")]).unwrap();
        assert_eq!(checked.len(), 1);
        assert_eq!(checked[0].value(), "b");
    }

    #[test]
    fn tags_outside_charset_are_rejected() {
        for (name, value) in [
            ("", "v"),
            ("a b", "v"),
            ("name", "a@example.com"),
            ("k=v", "x"),
        ] {
            let err = checked_tags(&[tag(name, value)]).unwrap_err();
            assert_eq!(
                err.error_type(),
                "BadRequestException",
                "{name:?}={value:?}"
            );
        }
    }

    #[test]
    fn empty_value_is_allowed() {
        let checked = checked_tags(&[tag("flag", "")]).unwrap();
        assert_eq!(checked[0].value(), "");
    }
}
