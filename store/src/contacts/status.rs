//! Status timestamps: when a contact entered each email and SMS status.

use schemas::contacts::{EmailStatus, SmsStatus};
use sqlx::any::AnyRow;

use crate::error::StoreError;
use crate::row::RowExt;

/// The status timestamp columns, in milliseconds since the epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StatusTimes {
    pub email_verified_at: Option<i64>,
    pub email_unsubscribed_at: Option<i64>,
    pub email_bounced_at: Option<i64>,
    pub email_complained_at: Option<i64>,
    pub email_suppressed_at: Option<i64>,
    pub sms_consented_at: Option<i64>,
    pub sms_opted_out_at: Option<i64>,
    pub sms_invalid_at: Option<i64>,
}

/// Column names in the order of [`StatusTimes::values`].
pub(crate) const STATUS_TIME_COLUMNS: [&str; 8] = [
    "email_verified_at",
    "email_unsubscribed_at",
    "email_bounced_at",
    "email_complained_at",
    "email_suppressed_at",
    "sms_consented_at",
    "sms_opted_out_at",
    "sms_invalid_at",
];

impl StatusTimes {
    pub(crate) fn from_row(row: &AnyRow) -> Result<StatusTimes, StoreError> {
        Ok(StatusTimes {
            email_verified_at: row.opt_int("email_verified_at")?,
            email_unsubscribed_at: row.opt_int("email_unsubscribed_at")?,
            email_bounced_at: row.opt_int("email_bounced_at")?,
            email_complained_at: row.opt_int("email_complained_at")?,
            email_suppressed_at: row.opt_int("email_suppressed_at")?,
            sms_consented_at: row.opt_int("sms_consented_at")?,
            sms_opted_out_at: row.opt_int("sms_opted_out_at")?,
            sms_invalid_at: row.opt_int("sms_invalid_at")?,
        })
    }

    pub(crate) fn values(&self) -> [Option<i64>; 8] {
        [
            self.email_verified_at,
            self.email_unsubscribed_at,
            self.email_bounced_at,
            self.email_complained_at,
            self.email_suppressed_at,
            self.sms_consented_at,
            self.sms_opted_out_at,
            self.sms_invalid_at,
        ]
    }

    /// Records a move from `old` to `new` at `now`. `active` keeps an earlier
    /// verification time. The other statuses stamp `now` when the contact
    /// enters them, and keep the stamp when it is already in that status.
    pub(crate) fn apply_email(&mut self, old: Option<EmailStatus>, new: EmailStatus, now: i64) {
        let slot = match new {
            EmailStatus::Active => {
                self.email_verified_at.get_or_insert(now);
                return;
            }
            EmailStatus::Unsubscribed => &mut self.email_unsubscribed_at,
            EmailStatus::Bounced => &mut self.email_bounced_at,
            EmailStatus::Complained => &mut self.email_complained_at,
            EmailStatus::Suppressed => &mut self.email_suppressed_at,
        };
        stamp_on_entry(slot, old == Some(new), now);
    }

    /// Records an SMS status move. `opted_in` keeps the earliest consent;
    /// `pending_consent` has no timestamp.
    pub(crate) fn apply_sms(&mut self, old: Option<SmsStatus>, new: SmsStatus, now: i64) {
        let slot = match new {
            SmsStatus::PendingConsent => return,
            SmsStatus::OptedIn => {
                self.sms_consented_at.get_or_insert(now);
                return;
            }
            SmsStatus::OptedOut => &mut self.sms_opted_out_at,
            SmsStatus::Invalid => &mut self.sms_invalid_at,
        };
        stamp_on_entry(slot, old == Some(new), now);
    }
}

fn stamp_on_entry(slot: &mut Option<i64>, already_in_status: bool, now: i64) {
    if !already_in_status || slot.is_none() {
        *slot = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_keeps_first_verification() {
        let mut times = StatusTimes {
            email_verified_at: Some(5),
            ..Default::default()
        };
        times.apply_email(Some(EmailStatus::Bounced), EmailStatus::Active, 9);
        assert_eq!(times.email_verified_at, Some(5));
    }

    #[test]
    fn reentering_a_status_restamps_it() {
        let mut times = StatusTimes {
            email_unsubscribed_at: Some(5),
            ..Default::default()
        };
        times.apply_email(Some(EmailStatus::Active), EmailStatus::Unsubscribed, 9);
        assert_eq!(times.email_unsubscribed_at, Some(9));
    }

    #[test]
    fn repeating_the_current_status_keeps_its_stamp() {
        let mut times = StatusTimes {
            sms_opted_out_at: Some(5),
            ..Default::default()
        };
        times.apply_sms(Some(SmsStatus::OptedOut), SmsStatus::OptedOut, 9);
        assert_eq!(times.sms_opted_out_at, Some(5));
    }

    #[test]
    fn opt_in_keeps_earliest_consent() {
        let mut times = StatusTimes::default();
        times.apply_sms(None, SmsStatus::OptedIn, 3);
        times.apply_sms(Some(SmsStatus::OptedOut), SmsStatus::OptedIn, 9);
        assert_eq!(times.sms_consented_at, Some(3));
    }
}
