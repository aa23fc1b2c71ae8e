//! `#[algorithm]` misuse fails to compile with a message that says what to
//! write instead (trybuild).

#[test]
fn misuse_of_the_algorithm_macro_fails_to_compile_clearly() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
