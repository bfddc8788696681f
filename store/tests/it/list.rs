use std::collections::HashSet;

use schemas::contacts::{
    Channel, ContactFilter, CreateContact, EmailStatus, PatchContact, SmsStatus,
};

use crate::{add_contact, store_with_org};

fn page(page: i64, page_size: i64) -> ContactFilter {
    ContactFilter {
        page,
        page_size,
        ..Default::default()
    }
}

fn searching(text: &str) -> ContactFilter {
    ContactFilter {
        search: Some(text.into()),
        ..page(1, 50)
    }
}

async fn emails(store: &store::Store, org: schemas::OrgId, filter: &ContactFilter) -> Vec<String> {
    let (contacts, _) = store.list_contacts(org, filter).await.unwrap();
    let mut emails: Vec<String> = contacts.into_iter().filter_map(|c| c.email).collect();
    emails.sort();
    emails
}

#[tokio::test]
async fn pages_cover_every_contact_newest_first() {
    let (store, org) = store_with_org().await;
    for i in 0..5 {
        add_contact(&store, org, &format!("c{i}@x.io")).await;
    }

    let mut seen = HashSet::new();
    let mut previous = None;
    for (number, expected_len) in [(1, 2), (2, 2), (3, 1), (4, 0)] {
        let (contacts, total) = store.list_contacts(org, &page(number, 2)).await.unwrap();
        assert_eq!(total, 5);
        assert_eq!(contacts.len(), expected_len, "page {number}");
        for contact in contacts {
            if let Some(previous) = previous {
                assert!(
                    contact.created_at <= previous,
                    "page {number} is not newest first"
                );
            }
            previous = Some(contact.created_at);
            assert!(seen.insert(contact.id), "contact listed twice");
        }
    }
    assert_eq!(seen.len(), 5);
}

#[tokio::test]
async fn filters_by_status_and_channel() {
    let (store, org) = store_with_org().await;
    let active = add_contact(&store, org, "active@x.io").await;
    let unsubscribed = add_contact(&store, org, "gone@x.io").await;
    let patch = PatchContact {
        email_status: Some(EmailStatus::Unsubscribed),
        ..Default::default()
    };
    store
        .patch_contact(org, unsubscribed, &patch)
        .await
        .unwrap();
    let sms = CreateContact {
        phone: Some("+15550100".into()),
        sms_status: Some(SmsStatus::OptedIn),
        preferred_channel: Some(Channel::Sms),
        ..Default::default()
    };
    let sms = store.create_contact(org, &sms).await.unwrap().contact.id;

    let by_email_status = ContactFilter {
        email_status: Some(EmailStatus::Active),
        ..page(1, 50)
    };
    let (contacts, total) = store.list_contacts(org, &by_email_status).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(contacts[0].id, active);

    let by_sms_status = ContactFilter {
        sms_status: Some(SmsStatus::OptedIn),
        ..page(1, 50)
    };
    assert_eq!(
        store.list_contacts(org, &by_sms_status).await.unwrap().0[0].id,
        sms
    );

    let by_channel = ContactFilter {
        preferred_channel: Some(Channel::Sms),
        ..page(1, 50)
    };
    let (contacts, total) = store.list_contacts(org, &by_channel).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(contacts[0].id, sms);
}

#[tokio::test]
async fn search_ignores_case_and_matches_phone() {
    let (store, org) = store_with_org().await;
    add_contact(&store, org, "Ada@Example.com").await;
    add_contact(&store, org, "bob@other.org").await;
    let phone = CreateContact {
        phone: Some("+15550199".into()),
        ..Default::default()
    };
    store.create_contact(org, &phone).await.unwrap();

    assert_eq!(
        emails(&store, org, &searching("example.COM")).await,
        ["Ada@Example.com"]
    );
    let (by_phone, total) = store
        .list_contacts(org, &searching("550199"))
        .await
        .unwrap();
    assert_eq!(total, 1);
    assert_eq!(by_phone[0].phone.as_deref(), Some("+15550199"));
}

#[tokio::test]
async fn search_takes_wildcards_literally() {
    let (store, org) = store_with_org().await;
    for email in ["a%b@x.io", "axxb@x.io", "c_d@x.io", "cxd@x.io"] {
        add_contact(&store, org, email).await;
    }

    assert_eq!(emails(&store, org, &searching("a%b")).await, ["a%b@x.io"]);
    assert_eq!(emails(&store, org, &searching("c_d")).await, ["c_d@x.io"]);
    assert_eq!(emails(&store, org, &searching("%")).await, ["a%b@x.io"]);
    assert!(emails(&store, org, &searching("\\")).await.is_empty());
}
