//! Listings of payments at a node: newest first, a page at a time, by
//! person, institution, relationship, month and status, read from indexes
//! written with the payments; a cursor stays valid across writes.

use std::time::{Duration, Instant};

use gongji_common::{
    contract::{CrossPayment, Payee, Purpose, TxStatus},
    store::{Store, Table},
    Id, InstitutionCode, Money, Period,
};
use gongji_tests::{
    assert_status, code, employee_with_balance, establish, hebei_donor_henan_parent, pay, pay_request, register, reverse, v1 as pb,
    TestNetwork,
};
use province_node::{
    domain::{AcquiredPayment, PayCommand, RefundCommand, RefundRecord, TransferCommand, TransferOut},
    service::{
        listings::{self, ListingFilter},
        TransferView,
    },
    store::{LISTINGS_BUILT, PAYMENTS, PAYMENT_INDEX, REFUNDS, REFUND_INDEX, TRANSFERS_OUT, TRANSFER_INDEX},
};
use tonic::{transport::Channel, Code};

type Node = pb::province_node_client::ProvinceNodeClient<Channel>;

fn request() -> pb::ListPaymentsRequest {
    pb::ListPaymentsRequest {
        limit: 100,
        ..Default::default()
    }
}

/// The ids of one page, and its next cursor.
async fn page(node: &mut Node, request: pb::ListPaymentsRequest) -> (Vec<String>, String) {
    let page = node.list_payments(request).await.expect("list payments").into_inner();
    (page.payments.into_iter().map(|p| p.payment_id).collect(), page.next_cursor)
}

async fn ids(node: &mut Node, request: pb::ListPaymentsRequest) -> Vec<String> {
    let (ids, next) = page(node, request).await;
    assert_eq!(next, "", "one page holds them all");
    ids
}

/// Pays `id` from `relationship`, a few milliseconds after the last one (so
/// times, and the order newest first, are distinct).
async fn pay_from(node: &mut Node, id: &str, institution: &str, amount: &str, relationship: &str) -> pb::Payment {
    tokio::time::sleep(Duration::from_millis(3)).await;
    let mut request = pay_request(id, "parent-41", institution, amount);
    request.relationship_id = relationship.into();
    pay(node, request).await.expect("pay")
}

/// Henan's parent-41 paid five times: from Hebei's donor (two approved, one
/// declined) and from a Henan donor (one approved, one reversed).
async fn five_payments(net: &TestNetwork) {
    hebei_donor_henan_parent(net).await;
    let mut henan = net.node("41");
    employee_with_balance(&mut henan, "donor-41", "410100", "1000.00").await;
    establish(&mut henan, "rel-41-41", "donor-41", "parent-41", "41", "300.00")
        .await
        .expect("establish rel-41-41");
    pay_from(&mut henan, "pay-a", "H41010000001", "10.00", "rel-13-41").await;
    pay_from(&mut henan, "pay-b", "P41010000002", "20.00", "rel-41-41").await;
    pay_from(&mut henan, "pay-c", "H41010000001", "30.00", "rel-13-41").await;
    let declined = pay_from(&mut henan, "pay-d", "H41010000001", "9999.00", "rel-13-41").await;
    assert_eq!(declined.status, pb::TransactionStatus::Declined as i32);
    pay_from(&mut henan, "pay-e", "H41010000001", "5.00", "rel-41-41").await;
    reverse(&mut henan, "pay-e").await.expect("reverse pay-e");
}

#[tokio::test]
async fn payments_are_listed_newest_first_in_pages_and_a_cursor_survives_a_write() {
    let net = TestNetwork::start(&["13", "41"]).await;
    five_payments(&net).await;
    let mut henan = net.node("41");

    let by_parent = || pb::ListPaymentsRequest {
        person_id: "parent-41".into(),
        limit: 2,
        ..Default::default()
    };
    let (first, cursor) = page(&mut henan, by_parent()).await;
    assert_eq!(first, ["pay-e", "pay-d"]);
    assert_ne!(cursor, "");

    // A payment written between pages is not listed by the later pages, and
    // nothing listed is listed again or skipped.
    pay_from(&mut henan, "pay-f", "H41010000001", "1.00", "rel-41-41").await;
    let (second, cursor) = page(&mut henan, pb::ListPaymentsRequest { cursor, ..by_parent() }).await;
    assert_eq!(second, ["pay-c", "pay-b"]);
    let (third, cursor) = page(&mut henan, pb::ListPaymentsRequest { cursor, ..by_parent() }).await;
    assert_eq!(third, ["pay-a"]);
    assert_eq!(cursor, "", "the last page says so");

    // A new listing starts with it.
    let (again, _) = page(&mut henan, by_parent()).await;
    assert_eq!(again, ["pay-f", "pay-e"]);

    // A cursor of the listing of all payments, given with a filter, is
    // refused; with its own filters it goes on.
    let (first, cursor_of_all) = page(&mut henan, pb::ListPaymentsRequest { limit: 1, ..request() }).await;
    assert_eq!(first, ["pay-f"]);
    assert_status(
        henan
            .list_payments(pb::ListPaymentsRequest {
                status: "approved".into(),
                cursor: cursor_of_all.clone(),
                ..request()
            })
            .await,
        Code::InvalidArgument,
        "cursor",
    );
    let (rest, _) = page(
        &mut henan,
        pb::ListPaymentsRequest {
            limit: 2,
            cursor: cursor_of_all,
            ..request()
        },
    )
    .await;
    assert_eq!(rest, ["pay-e", "pay-d"], "each status's payments in one order");
    net.shutdown().await;
}

#[tokio::test]
async fn each_filter_lists_only_its_payments_at_both_nodes() {
    let net = TestNetwork::start(&["13", "41"]).await;
    five_payments(&net).await;
    let (mut hebei, mut henan) = (net.node("13"), net.node("41"));
    let open = net.open_period().await;
    let previous = Period::parse("month", &open).expect("a month").previous().to_string();

    let cases: Vec<(pb::ListPaymentsRequest, Vec<&str>)> = vec![
        (request(), vec!["pay-e", "pay-d", "pay-c", "pay-b", "pay-a"]),
        (
            pb::ListPaymentsRequest {
                person_id: "donor-41".into(),
                ..request()
            },
            vec!["pay-e", "pay-b"],
        ),
        (
            pb::ListPaymentsRequest {
                institution_id: "P41010000002".into(),
                ..request()
            },
            vec!["pay-b"],
        ),
        (
            pb::ListPaymentsRequest {
                relationship_id: "rel-41-41".into(),
                ..request()
            },
            vec!["pay-e", "pay-b"],
        ),
        (
            pb::ListPaymentsRequest {
                status: "declined".into(),
                ..request()
            },
            vec!["pay-d"],
        ),
        (
            pb::ListPaymentsRequest {
                status: "reversed".into(),
                ..request()
            },
            vec!["pay-e"],
        ),
        (
            pb::ListPaymentsRequest {
                status: "APPROVED".into(),
                relationship_id: "rel-13-41".into(),
                ..request()
            },
            vec!["pay-c", "pay-a"],
        ),
        (
            pb::ListPaymentsRequest {
                month: open.clone(),
                institution_id: "H41010000001".into(),
                ..request()
            },
            vec!["pay-e", "pay-d", "pay-c", "pay-a"],
        ),
        (
            pb::ListPaymentsRequest {
                month: previous,
                ..request()
            },
            vec![],
        ),
    ];
    for (asked, expected) in cases {
        assert_eq!(ids(&mut henan, asked.clone()).await, expected, "{asked:?}");
    }

    // The donor's node lists the payments it decided from its donor's quota.
    let approved = pb::ListPaymentsRequest {
        person_id: "donor-13".into(),
        status: "approved".into(),
        ..request()
    };
    assert_eq!(ids(&mut hebei, approved).await, ["pay-c", "pay-a"]);
    let issued = ids(
        &mut hebei,
        pb::ListPaymentsRequest {
            relationship_id: "rel-13-41".into(),
            ..request()
        },
    )
    .await;
    assert!(issued.ends_with(&["pay-c".to_string(), "pay-a".to_string()]), "{issued:?}");
    assert!(!issued.iter().any(|id| id == "pay-b" || id == "pay-e"), "{issued:?}");
    net.shutdown().await;
}

#[tokio::test]
async fn a_bad_listing_request_is_refused_naming_the_field() {
    let net = TestNetwork::start(&["41"]).await;
    let mut henan = net.node("41");
    register(&mut henan, "parent-41", pb::InsuranceType::Resident, "410100").await;
    let refused = [
        (
            pb::ListPaymentsRequest {
                status: "lost".into(),
                ..request()
            },
            "status",
        ),
        (pb::ListPaymentsRequest { limit: 0, ..request() }, "limit"),
        (pb::ListPaymentsRequest { limit: 1001, ..request() }, "limit"),
        (
            pb::ListPaymentsRequest {
                cursor: "zz".into(),
                ..request()
            },
            "cursor",
        ),
        (
            pb::ListPaymentsRequest {
                month: "2026-13".into(),
                ..request()
            },
            "month",
        ),
        (
            pb::ListPaymentsRequest {
                person_id: "not an id".into(),
                ..request()
            },
            "person_id",
        ),
    ];
    for (asked, field) in refused {
        assert_status(henan.list_payments(asked).await, Code::InvalidArgument, field);
    }

    // Hex, but no position of this listing's index.
    let cursor_of_all = "00";
    assert_status(
        henan
            .list_payments(pb::ListPaymentsRequest {
                person_id: "parent-41".into(),
                cursor: cursor_of_all.into(),
                ..request()
            })
            .await,
        Code::InvalidArgument,
        "cursor",
    );
    net.shutdown().await;
}

/// A payment written straight to a node's store, with its index entries.
fn stored_payment(n: u64, at: i64) -> AcquiredPayment {
    let institution = if n.is_multiple_of(2) { "H41010000001" } else { "P41010000002" };
    AcquiredPayment {
        command: PayCommand {
            payment_id: Id::parse("payment_id", &format!("bulk-{n:06}")).expect("an id"),
            beneficiary_id: Id::parse("beneficiary_id", &format!("person-{}", n % 10)).expect("an id"),
            payee: Payee::Institution(InstitutionCode::parse("institution_id", institution).expect("a code")),
            amount: Money::parse_positive("amount", "1.00").expect("an amount"),
            purpose: Purpose::Outpatient,
            relationship_id: None,
        },
        route: None,
        period: None,
        status: if n.is_multiple_of(10) {
            TxStatus::Declined
        } else {
            TxStatus::Approved
        },
        decline: None,
        created_at: at,
        decided_at: Some(at),
        refunded: Money::ZERO,
        reversal: None,
    }
}

/// When the bulk payments start: 2026-05-29 04:26:40 UTC, all in one month.
const BULK_START: i64 = 1_780_000_000_000;

/// Writes payments `from..to`, a millisecond apart, in transactions of 1,000.
async fn write_payments(store: &Store, from: u64, to: u64) {
    let start = BULK_START;
    for chunk in (from..to).collect::<Vec<_>>().chunks(1000) {
        store
            .transact(|tx| {
                for n in chunk {
                    let payment = stored_payment(*n, start + *n as i64);
                    listings::index_payment(tx, &payment.command.payment_id, Some(&payment))?;
                    tx.put(PAYMENTS, &payment.command.payment_id, &payment)?;
                }
                Ok::<_, gongji_common::store::StoreError>(())
            })
            .unconfirmed()
            .expect("write payments");
    }
    store.durable().await.expect("on disk, where reads look");
}

/// A page of 50 and what it read, timed.
fn timed_page(
    store: &Store,
    filter: &ListingFilter,
    cursor: Option<&str>,
) -> (listings::Page<province_node::service::PaymentView>, Duration) {
    let started = Instant::now();
    let page = listings::list::<province_node::service::PaymentView>(store, filter, cursor, 50).expect("a page");
    (page, started.elapsed())
}

#[tokio::test]
async fn a_page_reads_only_its_own_entries_however_many_payments_the_node_holds() {
    let mut net = TestNetwork::start(&["41"]).await;
    net.stop_node("41").await;
    let store = net.open_stopped_node_store("41");
    let filters = [
        ("all", ListingFilter::default()),
        (
            "a person",
            ListingFilter {
                person: Some(Id::parse("person_id", "person-7").expect("an id")),
                ..Default::default()
            },
        ),
        (
            "declined",
            ListingFilter {
                status: Some(TxStatus::Declined),
                ..Default::default()
            },
        ),
        (
            "a month",
            ListingFilter {
                month: Some(Period::of_unix_millis(BULK_START)),
                ..Default::default()
            },
        ),
    ];
    // PostgreSQL writes 100,000 payments (800,000 records) in over a minute
    // in a debug build: 30,000 there keep the test quick.
    let most = if gongji_tests::on_postgres() { 30_000 } else { 100_000 };
    let mut written = 0;
    for size in [1_000, most] {
        write_payments(&store, written, size).await;
        written = size;
        for (name, filter) in &filters {
            let (first, took) = timed_page(&store, filter, None);
            assert_eq!((first.items.len(), first.read), (50, 50), "{name} at {size}");
            let (second, took_next) = timed_page(&store, filter, first.next_cursor.as_deref());
            assert_eq!((second.items.len(), second.read), (50, 50), "{name} at {size}");
            println!("{name:>9}: a page of 50 among {size:>7} payments took {took:?} (the next page {took_next:?}), read 50 index entries");
        }
        // A month with none reads no entry: its positions are a range.
        let before = ListingFilter {
            month: Some(Period::of_unix_millis(BULK_START).previous()),
            ..Default::default()
        };
        let (none, _) = timed_page(&store, &before, None);
        assert_eq!((none.items.len(), none.read), (0, 0), "the month before, at {size}");
    }
    // The newest first: the last written.
    let (newest, _) = timed_page(&store, &ListingFilter::default(), None);
    match &newest.items[0] {
        province_node::service::PaymentView::Acquired(p) => assert_eq!(p.command.payment_id.as_str(), format!("bulk-{:06}", most - 1)),
        other => panic!("not a payment served here: {:?}", std::mem::discriminant(other)),
    }
    store.durable().await.expect("on disk");
    drop(store);

    // The node serves the same page.
    net.start_node("41").await;
    let (served, next) = page(
        &mut net.node("41"),
        pb::ListPaymentsRequest {
            status: "declined".into(),
            limit: 3,
            ..Default::default()
        },
    )
    .await;
    let declined: Vec<String> = (1..=3).map(|k| format!("bulk-{:06}", most - 10 * k)).collect();
    assert_eq!(served, declined);
    assert_ne!(next, "");
    net.shutdown().await;
}

#[tokio::test]
async fn a_month_lists_from_its_first_millisecond_to_its_last_in_pages() {
    let mut net = TestNetwork::start(&["41"]).await;
    net.stop_node("41").await;
    let store = net.open_stopped_node_store("41");
    let month = Period::of_unix_millis(BULK_START);
    let (first, next) = (month.first_millis(), month.next().first_millis());
    // n % 10 == 0 is declined, the others approved: both statuses in the month.
    let times = [(1, first - 1), (10, first), (3, first + 1), (20, next - 1), (5, next)];
    store
        .transact(|tx| {
            for (n, at) in times {
                let payment = stored_payment(n, at);
                listings::index_payment(tx, &payment.command.payment_id, Some(&payment))?;
                tx.put(PAYMENTS, &payment.command.payment_id, &payment)?;
            }
            Ok::<_, gongji_common::store::StoreError>(())
        })
        .durable()
        .await
        .expect("write payments");
    let in_month = ListingFilter {
        month: Some(month),
        ..Default::default()
    };
    let listed = |page: &listings::Page<province_node::service::PaymentView>| -> Vec<String> {
        page.items
            .iter()
            .map(|view| match view {
                province_node::service::PaymentView::Acquired(p) => p.command.payment_id.to_string(),
                _ => panic!("a payment served here"),
            })
            .collect()
    };
    let whole = listings::list(&store, &in_month, None, 10).expect("a page");
    assert_eq!(listed(&whole), ["bulk-000020", "bulk-000003", "bulk-000010"]);
    assert_eq!(whole.read, 3, "nothing outside the month is read");
    let mut cursor = None;
    let mut paged = Vec::new();
    loop {
        let page = listings::list(&store, &in_month, cursor.as_deref(), 1).expect("a page");
        paged.extend(listed(&page));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, listed(&whole), "pages of one, across both statuses");
    let declined = ListingFilter {
        status: Some(TxStatus::Declined),
        ..in_month.clone()
    };
    assert_eq!(
        listed(&listings::list(&store, &declined, None, 10).expect("a page")),
        ["bulk-000020", "bulk-000010"]
    );
    drop(store);
    net.start_node("41").await;
    net.shutdown().await;
}

/// Leaves a stopped node's store as an older version left it: the records
/// of a listing, no index, no mark.
async fn forget_listing(net: &TestNetwork, province: &str, index: Table<[u8], ()>, name: &str) {
    let store = net.open_stopped_node_store(province);
    let keys: Vec<Vec<u8>> = store.scan_keys(index, b"").map(|k| k.expect("a key")).collect();
    assert!(!keys.is_empty(), "{name} were indexed");
    store
        .transact(|tx| {
            for key in &keys {
                tx.remove(index, key)?;
            }
            tx.remove(LISTINGS_BUILT, name)
        })
        .unconfirmed()
        .expect("forget the indexes");
    store.durable().await.expect("on disk");
}

#[tokio::test]
async fn payments_written_before_listings_existed_are_indexed_at_start() {
    let mut net = TestNetwork::start(&["13", "41"]).await;
    five_payments(&net).await;
    net.stop_node("41").await;
    forget_listing(&net, "41", PAYMENT_INDEX, "payments").await;
    net.start_node("41").await;
    let mut henan = net.node("41");
    assert_eq!(ids(&mut henan, request()).await, ["pay-e", "pay-d", "pay-c", "pay-b", "pay-a"]);
    assert_eq!(
        ids(
            &mut henan,
            pb::ListPaymentsRequest {
                status: "reversed".into(),
                ..request()
            }
        )
        .await,
        ["pay-e"]
    );
    net.shutdown().await;
}

#[tokio::test]
async fn an_index_of_the_older_layout_is_built_again_at_start() {
    let mut net = TestNetwork::start(&["13", "41"]).await;
    five_payments(&net).await;
    net.stop_node("41").await;
    // Version 1 also wrote `all`, `month` and `relationship` entries.
    let store = net.open_stopped_node_store("41");
    let stale: Vec<Vec<u8>> = ["all\u{1f}", "month\u{1f}2026-05", "relationship\u{1f}rel-13-41"]
        .iter()
        .map(|prefix| format!("{prefix}\u{1f}00000000\u{1f}pay-a").into_bytes())
        .collect();
    store
        .transact(|tx| {
            for key in &stale {
                tx.put(PAYMENT_INDEX, key, &())?;
            }
            tx.put(LISTINGS_BUILT, "payments", &1_u32)
        })
        .durable()
        .await
        .expect("leave an older index");
    drop(store);

    net.start_node("41").await;
    let mut henan = net.node("41");
    assert_eq!(ids(&mut henan, request()).await, ["pay-e", "pay-d", "pay-c", "pay-b", "pay-a"]);
    net.stop_node("41").await;
    let store = net.open_stopped_node_store("41");
    let dimensions: std::collections::BTreeSet<String> = store
        .scan_keys(PAYMENT_INDEX, b"")
        .map(|key| {
            let key = key.expect("a key");
            String::from_utf8_lossy(&key[..key.iter().position(|b| *b == 0x1f).expect("a dimension")]).into_owned()
        })
        .collect();
    assert_eq!(dimensions, ["institution", "person", "status"].map(String::from).into());
    // Five payments at Henan: a status, the beneficiary, the donor (each of
    // the five is from a relationship) and the institution each.
    assert_eq!(store.scan_keys(PAYMENT_INDEX, b"").count(), 5 * 4);
    assert_eq!(store.get(LISTINGS_BUILT, "payments").expect("read"), Some(2));
    drop(store);
    net.start_node("41").await;
    net.shutdown().await;
}

/// The ids of a hub listing, and the cursor of the last one.
async fn hub_page(net: &TestNetwork, request: pb::ListTransactionsRequest) -> Result<(Vec<String>, String), tonic::Status> {
    let mut stream = net.hub().list_transactions(request).await?.into_inner();
    let (mut ids, mut cursor) = (Vec::new(), String::new());
    while let Some(transaction) = stream.message().await? {
        ids.push(transaction.transaction_id);
        cursor = transaction.cursor;
    }
    Ok((ids, cursor))
}

#[tokio::test]
async fn the_hub_lists_a_months_transactions_in_pages_by_province_pair_kind_and_status() {
    let net = TestNetwork::start(&["13", "32", "41"]).await;
    five_payments(&net).await;
    let open = net.open_period().await;
    let month = |province: &str| pb::ListTransactionsRequest {
        period: open.clone(),
        province: province.into(),
        ..Default::default()
    };
    // Without a limit, the whole month as before.
    assert_eq!(hub_page(&net, month("")).await.unwrap().0, ["pay-a", "pay-c", "pay-d"]);

    // In pages, in the order recorded: one recorded between pages comes last.
    let (first, cursor) = hub_page(&net, pb::ListTransactionsRequest { limit: 2, ..month("41") })
        .await
        .unwrap();
    assert_eq!(first, ["pay-a", "pay-c"]);
    pay_from(&mut net.node("41"), "pay-g", "H41010000001", "2.00", "rel-13-41").await;
    let (second, _) = hub_page(
        &net,
        pb::ListTransactionsRequest {
            limit: 2,
            cursor,
            ..month("41")
        },
    )
    .await
    .unwrap();
    assert_eq!(second, ["pay-d", "pay-g"]);

    let cases: Vec<(pb::ListTransactionsRequest, Vec<&str>)> = vec![
        (
            pb::ListTransactionsRequest {
                status: "declined".into(),
                ..month("")
            },
            vec!["pay-d"],
        ),
        (
            pb::ListTransactionsRequest {
                kind: pb::TransactionKind::Refund as i32,
                ..month("13")
            },
            vec![],
        ),
        (
            pb::ListTransactionsRequest {
                counterpart: "13".into(),
                status: "approved".into(),
                ..month("41")
            },
            vec!["pay-a", "pay-c", "pay-g"],
        ),
        (
            pb::ListTransactionsRequest {
                counterpart: "32".into(),
                ..month("41")
            },
            vec![],
        ),
    ];
    for (asked, expected) in cases {
        assert_eq!(hub_page(&net, asked.clone()).await.unwrap().0, expected, "{asked:?}");
    }

    for (asked, field) in [
        (
            pb::ListTransactionsRequest {
                status: "lost".into(),
                ..month("")
            },
            "status",
        ),
        (pb::ListTransactionsRequest { limit: 1001, ..month("") }, "limit"),
        (
            pb::ListTransactionsRequest {
                cursor: "zz".into(),
                ..month("")
            },
            "cursor",
        ),
        (
            pb::ListTransactionsRequest {
                counterpart: "13".into(),
                ..month("")
            },
            "counterpart",
        ),
    ] {
        assert_status(hub_page(&net, asked).await, Code::InvalidArgument, field);
    }
    net.shutdown().await;
}

/// The ids of one page of refunds, and its next cursor.
async fn refund_page(node: &mut Node, request: pb::ListRefundsRequest) -> (Vec<String>, String) {
    let page = node.list_refunds(request).await.expect("list refunds").into_inner();
    (page.refunds.into_iter().map(|r| r.refund_id).collect(), page.next_cursor)
}

/// The ids of one page of transfers, and its next cursor.
async fn transfer_page(node: &mut Node, request: pb::ListTransfersRequest) -> (Vec<String>, String) {
    let page = node.list_transfers(request).await.expect("list transfers").into_inner();
    (page.transfers.into_iter().map(|t| t.transfer_id).collect(), page.next_cursor)
}

fn refunds(limit: u32) -> pb::ListRefundsRequest {
    pb::ListRefundsRequest {
        limit,
        ..Default::default()
    }
}

fn transfers(limit: u32) -> pb::ListTransfersRequest {
    pb::ListTransfersRequest {
        limit,
        ..Default::default()
    }
}

/// Refunds `payment`, a few milliseconds after the last one.
async fn refund_later(node: &mut Node, id: &str, payment: &str, amount: &str) -> pb::Refund {
    tokio::time::sleep(Duration::from_millis(3)).await;
    gongji_tests::refund(node, id, payment, amount).await.expect("refund")
}

#[tokio::test]
async fn refunds_are_listed_newest_first_by_each_filter_and_a_cursor_survives_a_write() {
    let mut net = TestNetwork::start(&["13", "41"]).await;
    five_payments(&net).await;
    let mut henan = net.node("41");
    refund_later(&mut henan, "ref-1", "pay-a", "5.00").await;
    refund_later(&mut henan, "ref-2", "pay-b", "5.00").await;
    refund_later(&mut henan, "ref-3", "pay-c", "30.00").await;
    let declined = refund_later(&mut henan, "ref-4", "pay-a", "100.00").await;
    assert_eq!(declined.status, pb::TransactionStatus::Declined as i32);

    // Pages, newest first; a refund written between pages is not listed by
    // the later ones, none is listed twice or skipped.
    let (first, cursor) = refund_page(&mut henan, refunds(3)).await;
    assert_eq!(first, ["ref-4", "ref-3", "ref-2"]);
    refund_later(&mut henan, "ref-5", "pay-a", "1.00").await;
    let (second, cursor) = refund_page(&mut henan, pb::ListRefundsRequest { cursor, ..refunds(3) }).await;
    assert_eq!((second, cursor), (vec!["ref-1".to_string()], String::new()));

    let open = net.open_period().await;
    let previous = Period::parse("month", &open).expect("a month").previous().to_string();
    let cases: Vec<(pb::ListRefundsRequest, Vec<&str>)> = vec![
        (refunds(100), vec!["ref-5", "ref-4", "ref-3", "ref-2", "ref-1"]),
        (
            pb::ListRefundsRequest {
                person_id: "donor-41".into(),
                ..refunds(100)
            },
            vec!["ref-2"],
        ),
        (
            pb::ListRefundsRequest {
                person_id: "parent-41".into(),
                status: "approved".into(),
                ..refunds(100)
            },
            vec!["ref-5", "ref-3", "ref-2", "ref-1"],
        ),
        (
            pb::ListRefundsRequest {
                institution_id: "P41010000002".into(),
                ..refunds(100)
            },
            vec!["ref-2"],
        ),
        (
            pb::ListRefundsRequest {
                relationship_id: "rel-13-41".into(),
                ..refunds(100)
            },
            vec!["ref-5", "ref-4", "ref-3", "ref-1"],
        ),
        (
            pb::ListRefundsRequest {
                status: "DECLINED".into(),
                ..refunds(100)
            },
            vec!["ref-4"],
        ),
        (
            pb::ListRefundsRequest {
                month: open.clone(),
                institution_id: "H41010000001".into(),
                status: "approved".into(),
                ..refunds(100)
            },
            vec!["ref-5", "ref-3", "ref-1"],
        ),
        (
            pb::ListRefundsRequest {
                month: previous,
                ..refunds(100)
            },
            vec![],
        ),
    ];
    for (asked, expected) in &cases {
        assert_eq!(refund_page(&mut henan, asked.clone()).await.0, *expected, "{asked:?}");
    }

    // The donor's node lists the refunds that returned money to its donor's quota.
    let at_donor = refund_page(
        &mut net.node("13"),
        pb::ListRefundsRequest {
            person_id: "donor-13".into(),
            status: "approved".into(),
            ..refunds(100)
        },
    )
    .await
    .0;
    assert_eq!(at_donor, ["ref-5", "ref-3", "ref-1"]);

    // Bad input is refused naming the field.
    for (asked, field) in [
        (
            pb::ListRefundsRequest {
                status: "lost".into(),
                ..refunds(10)
            },
            "status",
        ),
        (refunds(0), "limit"),
        (
            pb::ListRefundsRequest {
                cursor: "00".into(),
                person_id: "parent-41".into(),
                ..refunds(10)
            },
            "cursor",
        ),
    ] {
        assert_status(henan.list_refunds(asked).await, Code::InvalidArgument, field);
    }

    // A data directory of an older version gets its index at start.
    net.stop_node("41").await;
    forget_listing(&net, "41", REFUND_INDEX, "refunds").await;
    net.start_node("41").await;
    let mut henan = net.node("41");
    for (asked, expected) in &cases {
        assert_eq!(
            refund_page(&mut henan, asked.clone()).await.0,
            *expected,
            "{asked:?} after a rebuild"
        );
    }
    net.shutdown().await;
}

/// Transfers a resident of Hebei to Anhui, a few milliseconds after the last one.
async fn transfer_later(node: &mut Node, id: &str, person: &str) -> pb::InsuranceTransfer {
    tokio::time::sleep(Duration::from_millis(3)).await;
    node.transfer_insurance(pb::TransferInsuranceRequest {
        transfer_id: id.into(),
        person_id: person.into(),
        to_region: "340100".into(),
    })
    .await
    .expect("transfer")
    .into_inner()
}

#[tokio::test]
async fn transfers_are_listed_newest_first_at_both_nodes_by_person_month_and_status() {
    let mut net = TestNetwork::start(&["13", "34"]).await;
    let (mut hebei, mut anhui) = (net.node("13"), net.node("34"));
    for person in ["child-a", "child-b", "child-c", "twice"] {
        register(&mut hebei, person, pb::InsuranceType::Resident, "130100").await;
    }
    // Anhui already insures this one: its transfer is declined.
    register(&mut anhui, "twice", pb::InsuranceType::Resident, "340100").await;
    for (id, person) in [("t-1", "child-a"), ("t-2", "child-b"), ("t-3", "child-c")] {
        assert_eq!(
            transfer_later(&mut hebei, id, person).await.status,
            pb::TransactionStatus::Approved as i32
        );
    }

    let (first, cursor) = transfer_page(&mut hebei, transfers(2)).await;
    assert_eq!(first, ["t-3", "t-2"]);
    let declined = transfer_later(&mut hebei, "t-4", "twice").await;
    assert_eq!(declined.status, pb::TransactionStatus::Declined as i32);
    let (second, cursor) = transfer_page(&mut hebei, pb::ListTransfersRequest { cursor, ..transfers(2) }).await;
    assert_eq!((second, cursor), (vec!["t-1".to_string()], String::new()));

    let open = net.open_period().await;
    let cases: Vec<(&str, pb::ListTransfersRequest, Vec<&str>)> = vec![
        ("13", transfers(100), vec!["t-4", "t-3", "t-2", "t-1"]),
        (
            "13",
            pb::ListTransfersRequest {
                person_id: "child-b".into(),
                ..transfers(100)
            },
            vec!["t-2"],
        ),
        (
            "13",
            pb::ListTransfersRequest {
                status: "declined".into(),
                ..transfers(100)
            },
            vec!["t-4"],
        ),
        (
            "13",
            pb::ListTransfersRequest {
                month: open.clone(),
                status: "approved".into(),
                ..transfers(100)
            },
            vec!["t-3", "t-2", "t-1"],
        ),
        // The receiving node lists what it received, declined or not.
        ("34", transfers(100), vec!["t-4", "t-3", "t-2", "t-1"]),
        (
            "34",
            pb::ListTransfersRequest {
                person_id: "child-a".into(),
                status: "approved".into(),
                ..transfers(100)
            },
            vec!["t-1"],
        ),
        (
            "34",
            pb::ListTransfersRequest {
                status: "pending".into(),
                ..transfers(100)
            },
            vec![],
        ),
    ];
    for (province, asked, expected) in &cases {
        assert_eq!(
            transfer_page(&mut net.node(province), asked.clone()).await.0,
            *expected,
            "{province}: {asked:?}"
        );
    }
    assert_status(
        hebei
            .list_transfers(pb::ListTransfersRequest {
                month: "2026-1".into(),
                ..transfers(10)
            })
            .await,
        Code::InvalidArgument,
        "month",
    );

    // A data directory of an older version gets its index at start.
    net.stop_node("13").await;
    forget_listing(&net, "13", TRANSFER_INDEX, "transfers").await;
    net.start_node("13").await;
    for (province, asked, expected) in &cases {
        assert_eq!(
            transfer_page(&mut net.node(province), asked.clone()).await.0,
            *expected,
            "{province}: {asked:?} after a rebuild"
        );
    }
    net.shutdown().await;
}

/// A refund and a released transfer written straight to a node's store,
/// with their index entries: refunds of ten persons' payments (every tenth
/// declined), transfers of ten persons (every tenth pending).
fn write_refunds_and_transfers(store: &Store, from: u64, to: u64) {
    let start = 1_780_000_000_000;
    let id = |text: String| Id::parse("id", &text).expect("an id");
    for chunk in (from..to).collect::<Vec<_>>().chunks(1000) {
        store
            .transact(|tx| {
                for &n in chunk {
                    let at = start + n as i64;
                    let status = if n.is_multiple_of(10) {
                        TxStatus::Declined
                    } else {
                        TxStatus::Approved
                    };
                    let refund = RefundRecord {
                        command: RefundCommand {
                            refund_id: id(format!("refund-{n:06}")),
                            payment_id: id(format!("bulk-{n:06}")),
                            amount: Money::parse_positive("amount", "1.00").expect("an amount"),
                        },
                        payment: CrossPayment {
                            payment_id: id(format!("bulk-{n:06}")),
                            relationship_id: id(format!("rel-{}", n % 10)),
                            donor_id: id("donor-41".into()),
                            donor_province: "41".parse().expect("a province"),
                            beneficiary_id: id(format!("person-{}", n % 10)),
                            beneficiary_province: "41".parse().expect("a province"),
                            payee: Payee::Institution(InstitutionCode::parse("institution_id", "H41010000001").expect("a code")),
                            amount: Money::parse_positive("amount", "1.00").expect("an amount"),
                            purpose: Purpose::Outpatient,
                        },
                        period: None,
                        status,
                        decline: None,
                        created_at: at,
                        decided_at: Some(at),
                    };
                    listings::index_refund(tx, &refund.command.refund_id, Some(&refund))?;
                    tx.put(REFUNDS, &refund.command.refund_id, &refund)?;
                    let transfer = TransferOut {
                        command: TransferCommand {
                            transfer_id: id(format!("transfer-{n:06}")),
                            person_id: id(format!("person-{}", n % 10)),
                            to_region: gongji_common::RegionCode::parse("to_region", "340100").expect("a region"),
                        },
                        name: "someone".into(),
                        employee: false,
                        amount: None,
                        period: None,
                        status: if n.is_multiple_of(10) {
                            TxStatus::Pending
                        } else {
                            TxStatus::Approved
                        },
                        decline: None,
                        created_at: at,
                        decided_at: None,
                        follow_up: false,
                    };
                    listings::index_transfer_out(tx, &transfer.command.transfer_id, Some(&transfer))?;
                    tx.put(TRANSFERS_OUT, &transfer.command.transfer_id, &transfer)?;
                }
                Ok::<_, gongji_common::store::StoreError>(())
            })
            .unconfirmed()
            .expect("write refunds and transfers");
    }
}

#[tokio::test]
async fn a_page_of_refunds_or_transfers_reads_only_its_own_entries_however_many_the_node_holds() {
    let mut net = TestNetwork::start(&["41"]).await;
    net.stop_node("41").await;
    let store = net.open_stopped_node_store("41");
    let person = || Some(Id::parse("person_id", "person-7").expect("an id"));
    let filters = [
        ("all", ListingFilter::default()),
        (
            "a person",
            ListingFilter {
                person: person(),
                ..Default::default()
            },
        ),
        (
            "declined or pending",
            ListingFilter {
                status: Some(TxStatus::Declined),
                ..Default::default()
            },
        ),
    ];
    let most = if gongji_tests::on_postgres() { 10_000 } else { 30_000 };
    let mut written = 0;
    for size in [1_000, most] {
        write_refunds_and_transfers(&store, written, size);
        written = size;
        store.durable().await.expect("on disk, where reads look");
        for (name, filter) in &filters {
            let started = Instant::now();
            let first = listings::list::<RefundRecord>(&store, filter, None, 50).expect("a page");
            let second = listings::list::<RefundRecord>(&store, filter, first.next_cursor.as_deref(), 50).expect("a page");
            let took = started.elapsed();
            assert_eq!(
                (first.items.len(), first.read, second.read),
                (50, 50, 50),
                "refunds, {name} at {size}"
            );
            assert!(first.items[0].created_at > second.items[0].created_at, "newest first");
            let filter = match filter.status {
                Some(_) => ListingFilter {
                    status: Some(TxStatus::Pending),
                    ..Default::default()
                },
                None => filter.clone(),
            };
            let first = listings::list::<TransferView>(&store, &filter, None, 50).expect("a page");
            let second = listings::list::<TransferView>(&store, &filter, first.next_cursor.as_deref(), 50).expect("a page");
            assert_eq!(
                (first.items.len(), first.read, second.read),
                (50, 50, 50),
                "transfers, {name} at {size}"
            );
            println!("{name:>19}: two pages of 50 refunds among {size:>6} took {took:?}, read 50 index entries each");
        }
    }
    drop(store);
    net.start_node("41").await;
    let (served, _) = refund_page(
        &mut net.node("41"),
        pb::ListRefundsRequest {
            status: "declined".into(),
            ..refunds(2)
        },
    )
    .await;
    assert_eq!(served, [format!("refund-{:06}", most - 10), format!("refund-{:06}", most - 20)]);
    net.shutdown().await;
}

/// How many entries of a hub index start with `prefix`.
fn entries(store: &Store, index: Table<[u8], String>, prefix: &[u8]) -> usize {
    store
        .scan_keys(index, prefix)
        .try_fold(0, |n, k| k.map(|_| n + 1))
        .expect("the keys")
}

#[tokio::test]
async fn the_hubs_kind_status_and_pair_indexes_hold_only_their_transactions_and_are_built_for_older_stores() {
    use national_hub::store::{
        by_period_key, by_value_key, pair_prefix, value_prefix, LISTINGS_BUILT as HUB_BUILT, TX_BY_KIND, TX_BY_PAIR, TX_BY_PERIOD,
        TX_BY_STATUS, TX_SEQ,
    };
    let mut net = TestNetwork::start(&["13", "32", "41"]).await;
    five_payments(&net).await;
    let mut henan = net.node("41");
    // Many transactions a declined or refund page must not read.
    for n in 0..200 {
        let mut request = pay_request(&format!("many-{n:03}"), "parent-41", "H41010000001", "0.01");
        request.relationship_id = "rel-13-41".into();
        pay(&mut henan, request).await.expect("pay");
    }
    gongji_tests::refund(&mut henan, "ref-a", "pay-a", "1.00").await.expect("refund");
    reverse(&mut henan, "pay-c").await.expect("reverse pay-c");
    let open = net.open_period().await;
    let month = Period::parse("month", &open).expect("a month");
    let listed = |status: &str, kind: pb::TransactionKind, counterpart: &str| pb::ListTransactionsRequest {
        period: open.clone(),
        province: if counterpart.is_empty() { String::new() } else { "41".into() },
        counterpart: counterpart.into(),
        status: status.into(),
        kind: kind as i32,
        ..Default::default()
    };
    let cases = [
        (listed("declined", pb::TransactionKind::Unspecified, ""), 1),
        (listed("", pb::TransactionKind::Refund, ""), 1),
        (listed("", pb::TransactionKind::Reversal, ""), 1),
        (listed("pending", pb::TransactionKind::Unspecified, ""), 0),
        // One filter is the index read, the others are checked: Jiangsu had no declined one.
        (
            pb::ListTransactionsRequest {
                province: "32".into(),
                ..listed("declined", pb::TransactionKind::Unspecified, "")
            },
            0,
        ),
        (
            pb::ListTransactionsRequest {
                province: "13".into(),
                ..listed("declined", pb::TransactionKind::Payment, "")
            },
            1,
        ),
        (listed("", pb::TransactionKind::Unspecified, "13"), 205),
        (listed("", pb::TransactionKind::Unspecified, "32"), 0),
    ];
    let mut before = Vec::new();
    for (asked, count) in &cases {
        let (ids, _) = hub_page(&net, asked.clone()).await.expect("a listing");
        assert_eq!(ids.len(), *count, "{asked:?}: {ids:?}");
        before.push(ids);
    }

    net.stop_hub().await;
    {
        let store = net.open_stopped_hub_store(national_hub::store::TREES);
        // The month and province indexes of older versions are written no more.
        assert_eq!(store.scan_keys(TX_BY_PERIOD, b"").count(), 0);
        assert_eq!(store.scan_keys(national_hub::store::TX_BY_PROVINCE, b"").count(), 0);
        // Each index holds its transactions only, so a page reads only them;
        // each transaction was recorded pending, and its decision moved it.
        assert_eq!(entries(&store, TX_BY_STATUS, &value_prefix(month, "declined")), 1);
        assert_eq!(entries(&store, TX_BY_STATUS, &value_prefix(month, "pending")), 0);
        assert_eq!(entries(&store, TX_BY_KIND, &value_prefix(month, "refund")), 1);
        assert_eq!(entries(&store, TX_BY_PAIR, &pair_prefix(month, code("41"), code("32"))), 0);
        assert_eq!(entries(&store, TX_BY_PAIR, &pair_prefix(month, code("41"), code("13"))), 205);
        let seq = store.get(TX_SEQ, "payment/pay-a").expect("read").expect("pay-a's seq");
        assert_eq!(store.get(TX_BY_STATUS, &by_value_key(month, "pending", seq)).expect("read"), None);
        assert_eq!(
            store
                .get(TX_BY_STATUS, &by_value_key(month, "approved", seq))
                .expect("read")
                .as_deref(),
            Some("payment/pay-a")
        );

        // As an older version left it: transactions, none of these indexes.
        let mut keys = Vec::new();
        for index in [TX_BY_KIND, TX_BY_STATUS, TX_BY_PAIR] {
            keys.extend(store.scan_keys(index, b"").map(|k| (index, k.expect("a key"))));
        }
        let seqs: Vec<Vec<u8>> = store.scan_keys(TX_SEQ, b"").map(|k| k.expect("a key")).collect();
        store
            .transact(|tx| {
                for (index, key) in &keys {
                    tx.remove(*index, key)?;
                }
                for key in &seqs {
                    let key = std::str::from_utf8(key).expect("a key");
                    // Older versions indexed the month (read to build the others).
                    let seq = tx.get(TX_SEQ, key)?.expect("a seq");
                    tx.put(TX_BY_PERIOD, &by_period_key(month, seq), &key.to_owned())?;
                    tx.remove(TX_SEQ, key)?;
                }
                tx.remove(HUB_BUILT, "transactions")
            })
            .unconfirmed()
            .expect("forget the indexes");
        store.durable().await.expect("on disk");
    }
    net.start_hub().await;
    for ((asked, _), ids) in cases.iter().zip(&before) {
        assert_eq!(
            &hub_page(&net, asked.clone()).await.expect("a listing").0,
            ids,
            "{asked:?} after a rebuild"
        );
    }
    net.shutdown().await;
}
