//! The JSON and text renderings of the typed reports, pinned byte for byte (docs/contract.md §2 shapes).
use super::*;
use crate::model::{AclEntry, Kind, Owner, RecipeFormat};
use crate::plan::{Change, CreateKind, Plan, Target};

fn at(path: &str) -> Target {
    Target {
        path: crate::model::ZPath::parse(path).unwrap(),
        owner: Some(Owner::new(Kind::ConfigTree, "t")),
        observe: false,
    }
}

fn sample_plan() -> Plan {
    let create = Change::Create {
        at: at("/c/a"),
        data: b"x=1".to_vec(),
        secret: false,
        mode: CreateKind::Persistent,
        acl: Vec::new(),
    };
    let update = Change::Update {
        at: Target {
            observe: true,
            ..at("/c/b")
        },
        before: vec![0xff, 0x00],
        after: b"y".to_vec(),
        secret: false,
        version: 3,
    };
    let secret = Change::Create {
        at: Target {
            owner: None,
            ..at("/c/s")
        },
        data: b"hunter2".to_vec(),
        secret: true,
        mode: CreateKind::Persistent,
        acl: Vec::new(),
    };
    let delete = Change::Delete {
        at: at("/c/d"),
        version: 3,
        size: 4,
    };
    let acl = Change::Acl {
        at: at("/c/a"),
        before: Vec::new(),
        after: vec![AclEntry::open()],
        aversion: 3,
    };
    Plan {
        changes: vec![create, update, secret, delete, acl],
        ..Plan::default()
    }
}

#[test]
fn plan_report_json_is_specs_shape() {
    let json = serde_json::to_string(&PlanReport::new(&sample_plan())).unwrap();
    assert_eq!(
        json,
        concat!(
            r#"{"changes":["#,
            r#"{"op":"create","path":"/c/a","kind":"ConfigTree","name":"t","before":null,"after":"x=1"},"#,
            r#"{"op":"update","path":"/c/b","kind":"ConfigTree","name":"t","before":{"base64":"/wA="},"after":"y","observe":true},"#,
            r#"{"op":"create","path":"/c/s","kind":null,"name":null,"before":null,"after":"(sensitive)"},"#,
            r#"{"op":"delete","path":"/c/d","kind":"ConfigTree","name":"t","before":null,"after":null},"#,
            r#"{"op":"acl","path":"/c/a","kind":"ConfigTree","name":"t","before":[],"after":["world:anyone:all"]}"#,
            r#"],"summary":{"create":2,"update":2,"delete":1},"keptOwners":[],"adopted":[]}"#
        )
    );
    assert!(!json.contains("hunter2"));
}

#[test]
fn apply_members_follow_the_summary() {
    let mut r = PlanReport::new(&Plan::default());
    r.applied = Some(true);
    r.transactions = Some(2);
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"changes":[],"summary":{"create":0,"update":0,"delete":0},"keptOwners":[],"adopted":[],"applied":true,"transactions":2}"#
    );
    let mut r = PlanReport::new(&Plan::default());
    r.applied = Some(false);
    r.refused = Some("too many".into());
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"changes":[],"summary":{"create":0,"update":0,"delete":0},"keptOwners":[],"adopted":[],"applied":false,"refused":"too many"}"#
    );
}

fn sample_status() -> StatusReport {
    StatusReport {
        lock: LockStatus {
            holder: Some("h:1".into()),
            contenders: vec!["h:1".into(), "h:2".into()],
        },
        suspended: true,
        last_apply: Some(LastApply {
            revision: String::new(),
            time: "2026-01-01T00:00:00Z".into(),
            digest: "d".into(),
            by: "h:1".into(),
            version: Some("0.1.0 (abc1234)".into()),
        }),
        trees: vec![TreeStatus {
            name: "t".into(),
            root: "/c".into(),
            mode: "enforce",
            in_sync: false,
            drift: Summary {
                create: 1,
                update: 0,
                delete: 2,
            },
            orphaned: vec!["/old/x".into()],
        }],
        queues: vec![QueueStatus {
            name: "q".into(),
            path: "/q".into(),
            format: RecipeFormat::KazooLocking,
            depth: 7,
            alert: true,
        }],
        elections: vec![ElectionStatus {
            name: "e".into(),
            path: "/e".into(),
            format: RecipeFormat::Curator,
            leader: None,
            contenders: vec![],
        }],
        services: vec![ServiceStatus {
            name: "s".into(),
            base_path: Some("/svc".into()),
            format: RecipeFormat::Json,
            instances: vec![InstanceStatus {
                id: "a".into(),
                address: Some("10.0.0.1".into()),
                port: None,
                ephemeral: true,
            }],
        }],
        newer_format: None,
    }
}

#[test]
fn status_report_json_is_specs_shape() {
    assert_eq!(
        serde_json::to_string(&sample_status()).unwrap(),
        concat!(
            r#"{"lock":{"holder":"h:1","contenders":["h:1","h:2"]},"suspended":true,"#,
            r#""lastApply":{"revision":"","time":"2026-01-01T00:00:00Z","digest":"d","by":"h:1","version":"0.1.0 (abc1234)"},"#,
            r#""trees":[{"name":"t","root":"/c","mode":"enforce","inSync":false,"drift":{"create":1,"update":0,"delete":2},"orphaned":["/old/x"]}],"#,
            r#""queues":[{"name":"q","path":"/q","format":"kazoo-locking","depth":7,"alert":true}],"#,
            r#""elections":[{"name":"e","path":"/e","format":"curator","leader":null,"contenders":[]}],"#,
            r#""services":[{"name":"s","basePath":"/svc","format":"json","instances":[{"id":"a","address":"10.0.0.1","port":null,"ephemeral":true}]}]}"#
        )
    );
    let empty = StatusReport::default();
    assert_eq!(
        serde_json::to_string(&empty).unwrap(),
        r#"{"lock":{"holder":null,"contenders":[]},"suspended":false,"lastApply":null,"trees":[],"queues":[],"elections":[],"services":[]}"#
    );
}

#[test]
fn recipe_formats_round_trip_and_unknown_stays_unknown() {
    for f in [
        RecipeFormat::Kazoo,
        RecipeFormat::KazooLocking,
        RecipeFormat::Curator,
        RecipeFormat::Json,
    ] {
        assert_eq!(RecipeFormat::parse(f.as_str()), f);
    }
    let future = RecipeFormat::parse("kazoo-v2");
    assert_eq!(future, RecipeFormat::Unknown("kazoo-v2".into()));
    assert_eq!(crate::recipes::queue_format_of(&future), None);
    assert_eq!(crate::recipes::election_format_of(&future), None);
    assert_eq!(
        crate::recipes::queue_format_of(&RecipeFormat::default()),
        None
    );
}

#[test]
fn pass_report_counts_and_outcome_labels() {
    let report = PassReport {
        plan: sample_plan(),
        outcome: Outcome::Refused { reason: "r".into() },
        timings: Timings::default(),
        attempts: 1,
        ops: 0,
        bytes: 0,
        batches: 0,
        suspended: false,
        confirmed_by_record: false,
        tightened: 0,
        from_cache: false,
    };
    assert_eq!(
        report.counts(),
        Summary {
            create: 2,
            update: 2,
            delete: 1
        }
    );
    assert!(!report.in_sync());
    assert_eq!(report.outcome.label(), "refused");
    let drift = report.drift_by_owner();
    assert_eq!(drift[&Owner::new(Kind::ConfigTree, "t")].delete, 1);
}
