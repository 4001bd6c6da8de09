//! README.md's quick start is the real `examples/quickstart.rs`, character for character, its
//! handler test included, so the code a reader copies is code that compiles and passes (the
//! example and its test are built and run by every test run).

#[test]
fn readme_quick_start_is_the_quickstart_example() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let example = std::fs::read_to_string(format!("{root}/examples/quickstart.rs")).unwrap();
    let start = readme.find("```rust,no_run\n").expect("README has a rust quick start block")
        + "```rust,no_run\n".len();
    let end = start + readme[start..].find("```").expect("the block is closed");
    assert_eq!(&readme[start..end], example);
}

/// `.ci/run` checks that it runs these two (it is not shipped with the crate, so this test
/// does not read it).
#[test]
fn readme_gives_the_two_set_up_commands() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains("\ncargo run -p meshagent-webhooks-demo "));
    assert!(readme.contains("\ncargo test --all-features "));
}
