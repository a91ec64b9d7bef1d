//! Property tests of the node's rules: quota arithmetic under random
//! sequences of payments, refunds and quota changes, and every public
//! request converter under arbitrary field text. Seeded, so a failure
//! reproduces.

use gongji_common::{contract::RelationKind, testing::Rng, Id, Money, ProvinceCode};
use gongji_proto::v1 as pb;
use province_node::{
    api::convert,
    domain::{check_quota_change, check_spend, Grant, InsuranceType, Person, PersonStatus, Relationship, RelationshipStatus},
};

fn relationship(quota: Money) -> Relationship {
    let grant = Grant {
        relationship_id: Id::parse("r", "rel").unwrap(),
        donor_id: Id::parse("d", "donor").unwrap(),
        donor_province: ProvinceCode::parse("p", "13").unwrap(),
        beneficiary_id: Id::parse("b", "kin").unwrap(),
        beneficiary_province: ProvinceCode::parse("p", "41").unwrap(),
        kind: RelationKind::Parent,
        quota,
    };
    Relationship::new(grant, RelationshipStatus::Active, None, 0)
}

#[test]
fn used_plus_remaining_is_the_quota_and_nothing_goes_below_zero() {
    let donor = Person {
        id: Id::parse("d", "donor").unwrap(),
        name: "Donor".into(),
        insurance: InsuranceType::Employee,
        region: gongji_common::RegionCode::parse("r", "130100").unwrap(),
        status: PersonStatus::Active,
        registered_at: 0,
        moved_to: None,
    };
    for seed in 1..=20u64 {
        let mut rng = Rng::new(seed);
        let mut r = relationship(Money::from_fen(50_000));
        let mut available = Money::from_fen(100_000);
        for step in 0..500 {
            let amount = Money::from_fen(rng.below(20_000) as i64 + 1);
            match rng.below(3) {
                0 => {
                    // A payment: approved only within the remaining quota.
                    let fits = amount <= r.remaining();
                    assert_eq!(check_spend(&r, Some(&donor), amount).is_ok(), fits, "seed {seed} step {step}");
                    if fits {
                        r.use_quota(amount, 0).unwrap();
                    }
                }
                1 => {
                    // A refund of at most what was used.
                    let back = amount.min(r.used);
                    r.return_quota(back, 0).unwrap();
                    assert!(
                        r.return_quota(Money::from_fen(1).checked_add(r.used).unwrap(), 0).is_err(),
                        "more than used"
                    );
                }
                _ => {
                    let new_quota = Money::from_fen(rng.below(100_000) as i64 + 1);
                    match check_quota_change(&r, new_quota, available) {
                        Ok(delta) => {
                            assert!(new_quota >= r.used, "seed {seed} step {step}: lowered below used");
                            available = available.checked_sub(delta).unwrap();
                            r.quota = new_quota;
                        }
                        Err(_) => assert!(new_quota < r.used || new_quota.checked_sub(r.quota).unwrap() > available),
                    }
                }
            }
            assert_eq!(r.used.checked_add(r.remaining()).unwrap(), r.quota, "seed {seed} step {step}");
            assert!(!r.used.is_negative() && !r.remaining().is_negative() && !available.is_negative());
        }
        r.dissolve(gongji_common::contract::EndReason::DonorRequest, 0);
        assert_eq!(r.remaining(), Money::ZERO, "nothing to spend once ended");
    }
}

#[test]
fn request_converters_refuse_arbitrary_fields_without_panicking() {
    let mut rng = Rng::new(99);
    let province = ProvinceCode::parse("p", "32").unwrap();
    for _ in 0..10_000 {
        let mut t = || rng.text(20);
        let _ = convert::pay_command(pb::PayRequest {
            payment_id: t(),
            beneficiary_id: t(),
            institution_id: t(),
            amount: t(),
            purpose: (t().len() % 7) as i32,
            relationship_id: t(),
        });
        let _ = convert::establish_command(
            pb::EstablishRelationshipRequest {
                relationship_id: t(),
                donor_id: t(),
                beneficiary_id: t(),
                beneficiary_province: t(),
                relation_kind: (t().len() % 10) as i32,
                quota: t(),
            },
            province,
        );
        let _ = convert::credit_command(pb::CreditContributionRequest {
            contribution_id: t(),
            person_id: t(),
            amount: t(),
        });
        let _ = convert::register_command(
            "person",
            Some(pb::Person {
                person_id: t(),
                name: t(),
                insurance_type: (t().len() % 4) as i32,
                region_code: t(),
                status: (t().len() % 5) as i32,
                registered_at: None,
            }),
        );
        let _ = convert::refund_command(pb::RefundPaymentRequest {
            refund_id: t(),
            payment_id: t(),
            amount: t(),
        });
        let _ = convert::transfer_command(pb::TransferInsuranceRequest {
            transfer_id: t(),
            person_id: t(),
            to_region: t(),
        });
        let _ = convert::quota_change_command(pb::ChangeQuotaRequest {
            change_id: t(),
            relationship_id: t(),
            quota: t(),
        });
    }
}
