//! What a username may be. Names are unique and looked up by their NFKC, case-folded key
//! (`store::username_key`), so `ALICE` and `ａｌｉｃｅ` are `alice`; what normalization cannot
//! catch is refused here: invisible and direction-changing characters, and names that mix the
//! look-alike Latin, Greek and Cyrillic scripts (`аlice` with a Cyrillic `а`).

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};
use unicode_script::{Script, UnicodeScript};

/// The longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 255;

/// Why a username is refused, as a sentence saying what to do; `None` if it is fine.
pub fn username_problem(name: &str) -> Option<String> {
    let count = name.chars().count();
    if count == 0 {
        return Some("a username must not be empty".into());
    }
    if count > MAX_USERNAME_CHARS {
        return Some(format!("a username may be at most {MAX_USERNAME_CHARS} characters"));
    }
    if let Some(c) = name.chars().find(|c| invisible(*c)) {
        return Some(format!(
            "a username must be written without spaces or invisible characters (found U+{:04X})",
            c as u32
        ));
    }
    let mut scripts = name
        .chars()
        .map(|c| c.script())
        .filter(|s| matches!(s, Script::Latin | Script::Greek | Script::Cyrillic))
        .collect::<Vec<_>>();
    scripts.sort_by_key(|s| s.full_name());
    scripts.dedup();
    if scripts.len() > 1 {
        let names: Vec<&str> = scripts.iter().map(|s| s.full_name()).collect();
        return Some(format!(
            "a username may not mix look-alike scripts ({}): write it in one of them",
            names.join(", ")
        ));
    }
    None
}

/// Whitespace, control, format (zero-width, bidi), separator, private-use, surrogate and
/// unassigned characters: none has a place in a name people compare by eye.
fn invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Other | GeneralCategoryGroup::Separator
        )
}

#[cfg(test)]
mod tests {
    use super::username_problem;

    #[test]
    fn ordinary_names_in_any_one_script_are_fine() {
        for name in [
            "alice",
            "Alice.Smith",
            "bob_1",
            "jürgen",
            "Ελένη",
            "иван",
            "山田太郎",
            "user@example.com",
        ] {
            assert_eq!(username_problem(name), None, "{name}");
        }
    }

    #[test]
    fn invisible_direction_and_look_alike_tricks_are_refused() {
        for name in [
            "",
            "al ice",
            "alice\u{200B}", // zero-width space
            "ali\u{200D}ce", // zero-width joiner
            "\u{202E}ecila", // right-to-left override
            "alice\u{2066}", // left-to-right isolate
            "ali\u{0007}ce", // control
            "\u{0430}lice",  // Cyrillic а + Latin
            "p\u{03B1}ypal", // Greek α + Latin
        ] {
            assert!(username_problem(name).is_some(), "{name:?} was accepted");
        }
        assert!(username_problem(&"a".repeat(256)).is_some());
        assert_eq!(
            username_problem(&"é".repeat(255)),
            None,
            "the limit counts characters, not bytes"
        );
    }

    #[test]
    fn spellings_of_one_name_share_a_key() {
        let key = crate::store::username_key;
        assert_eq!(key("ALICE"), "alice");
        assert_eq!(key("ａｌｉｃｅ"), "alice");
        assert_eq!(key("Ａlice"), key("aLiCe"));
        assert_ne!(
            key("\u{0430}lice"),
            key("alice"),
            "NFKC does not map scripts; username_problem refuses the mix"
        );
    }
}
