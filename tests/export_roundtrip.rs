//! Issue 7 case 5: `export` round-trips every node content. A property test renders generated
//! contents (arbitrary bytes; text with `${`, `$${`, `$`, YAML words, spaces, `#`, `: `, `- `,
//! newlines, tabs, quotes, control and non-ASCII characters) and loads them back (pure, many
//! cases); then against a real ZooKeeper (a bounded 64 contents): export -> apply to a new root
//! gives the same bytes, and export -> diff against the same tree is in sync.
mod common;

use std::cell::Cell;

use common::{Manifests, raw, run, zk};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use zkstate::cli::export::render_manifest;
use zkstate::manifest::{LoadOptions, load};
use zkstate::model::{LiveNode, LiveTree, ZPath};

fn content() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        Just("${".to_string()),
        Just("$${".to_string()),
        Just("$$".to_string()),
        Just("$".to_string()),
        Just("${HOME}".to_string()),
        Just("${X:-d}".to_string()),
        Just("}".to_string()),
        Just("on".to_string()),
        Just("null".to_string()),
        Just("~".to_string()),
        Just("0x10".to_string()),
        Just("1e3".to_string()),
        Just("true".to_string()),
        Just(" ".to_string()),
        Just("#".to_string()),
        Just(": ".to_string()),
        Just("- ".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("\t".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("\\".to_string()),
        Just("---".to_string()),
        Just("&a *a !tag |".to_string()),
        any::<char>().prop_map(|c| c.to_string()),
        "[a-z]{1,4}",
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..48),
        prop::collection::vec(fragment, 0..12).prop_map(|v| v.concat().into_bytes()),
    ]
}

fn p(s: &str) -> ZPath {
    ZPath::parse(s).unwrap()
}

/// A live tree `/src` holding `contents` as `n000`, `n001`, ...
fn tree(contents: &[Vec<u8>]) -> LiveTree {
    let mut t = LiveTree::default();
    let names: Vec<String> = (0..contents.len()).map(|i| format!("n{i:03}")).collect();
    t.nodes.insert(
        p("/src"),
        LiveNode {
            children: names.clone(),
            ..Default::default()
        },
    );
    for (name, data) in names.iter().zip(contents) {
        t.nodes.insert(
            p(&format!("/src/{name}")),
            LiveNode {
                data: data.clone(),
                ..Default::default()
            },
        );
    }
    t
}

#[test]
fn rendered_exports_load_back_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.yaml");
    // Every variable is "set": an unescaped `${...}` would be expanded and show up.
    let env = |_: &str| Some("EXPANDED".to_string());
    let mut runner = TestRunner::new(Config {
        cases: 512,
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(content(), 1..8), |contents| {
            let text = render_manifest(&p("/src"), "src", &tree(&contents));
            std::fs::write(&file, &text).unwrap();
            let set = load(std::slice::from_ref(&file), &env, &LoadOptions::default())
                .map_err(|d| TestCaseError::fail(format!("{d:?}\n{text}")))?;
            for (i, want) in contents.iter().enumerate() {
                let got = &set.state.nodes[&p(&format!("/src/n{i:03}"))].data;
                prop_assert_eq!(got, want, "{}", text);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn export_apply_and_diff_round_trip_on_a_real_zookeeper() {
    let zk = zk();
    let hosts = zk.connect_string();
    let case = Cell::new(0);
    // 4 cases of 16 contents: 64 contents against the server, in seconds.
    let mut runner = TestRunner::new(Config {
        cases: 4,
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(content(), 16), |contents| {
            let k = case.get();
            case.set(k + 1);
            let src = format!("/src{k}");
            raw::create(&hosts, &src, b"");
            for (i, data) in contents.iter().enumerate() {
                raw::create(&hosts, &format!("{src}/n{i:03}"), data);
            }
            let (code, exported, err) = run(&hosts, &["export", "--path", &src]);
            prop_assert_eq!(code, 0, "{}", err);
            let m = Manifests::new(&[("src.yaml", &exported)]);
            // Applying the export back to the same tree is a no-op.
            let (code, out, err) = run(&hosts, &["diff", "-f", m.path().to_str().unwrap()]);
            prop_assert_eq!(code, 0, "{}\n{}\n{}", out, err, exported);
            // Applied to a new root, it writes the same bytes.
            let dst = format!("/dst{k}");
            let moved = exported
                .replacen(&format!("root: \"{src}\""), &format!("root: \"{dst}\""), 1)
                .replacen(
                    &format!("name: \"src{k}\""),
                    &format!("name: \"dst{k}\""),
                    1,
                );
            prop_assert!(moved.contains(&dst), "{}", moved);
            let m2 = Manifests::new(&[("dst.yaml", &moved)]);
            let (code, out, err) = run(&hosts, &["apply", "-f", m2.path().to_str().unwrap()]);
            prop_assert_eq!(code, 0, "{}\n{}", out, err);
            for (i, data) in contents.iter().enumerate() {
                let got = raw::get(&hosts, &format!("{dst}/n{i:03}")).map(|(d, _)| d);
                prop_assert_eq!(got.as_ref(), Some(data), "{}", moved);
            }
            Ok(())
        })
        .unwrap();
}
