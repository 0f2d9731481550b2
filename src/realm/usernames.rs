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
    // Judged on the key too: NFKC turns look-alikes such as mathematical letters (script
    // Common) into the letters they imitate.
    let key = crate::store::username_key(name);
    let mut scripts = name
        .chars()
        .chain(key.chars())
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

/// Whether `text` (a name, a label: spaces allowed) hides something: control or format
/// characters (zero-width, bidi), line or paragraph separators, or blank letters.
pub fn has_hidden_characters(text: &str) -> bool {
    text.chars().any(|c| {
        c.general_category_group() == GeneralCategoryGroup::Other
            || matches!(c, '\u{2028}' | '\u{2029}')
            || blank_letter(c)
    })
}

/// Whitespace, control, format (zero-width, bidi), separator, private-use, surrogate and
/// unassigned characters: none has a place in a name people compare by eye.
fn invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Other | GeneralCategoryGroup::Separator
        )
        || blank_letter(c)
}

/// Characters that draw nothing but are letters or marks (so the category test misses them):
/// the Hangul fillers, the Braille blank, combining grapheme joiner, Mongolian and other
/// variation selectors, Khmer inherent vowels (the Default_Ignorable_Code_Point property
/// outside categories Cc/Cf/Z*).
fn blank_letter(c: char) -> bool {
    matches!(
        c,
        '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FFA0}'
            | '\u{E0100}'..='\u{E01EF}'
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
            "alice\u{200B}",     // zero-width space
            "ali\u{200D}ce",     // zero-width joiner
            "\u{202E}ecila",     // right-to-left override
            "alice\u{2066}",     // left-to-right isolate
            "ali\u{0007}ce",     // control
            "\u{0430}lice",      // Cyrillic а + Latin
            "p\u{03B1}ypal",     // Greek α + Latin
            "alice\u{3164}",     // Hangul filler
            "ali\u{FE0F}ce",     // variation selector
            "\u{2800}",          // Braille blank
            "\u{1D5BA}\u{0430}", // mathematical a (Latin once normalized) + Cyrillic а
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
    fn names_and_labels_may_have_spaces_but_nothing_hidden() {
        use super::has_hidden_characters;
        assert!(!has_hidden_characters("Mary Ann O'Neil"));
        assert!(!has_hidden_characters("Work phone"));
        for text in ["Ann\u{202E}", "a\u{200B}b", "a\u{2028}b", "tab\there", "\u{3164}"] {
            assert!(has_hidden_characters(text), "{text:?}");
        }
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
