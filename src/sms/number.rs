//! Phone numbers as E.164 (`+` and up to 15 digits): what people type (spaces, dashes, dots,
//! brackets, a `00` international prefix) becomes one canonical form, so that limits and
//! lookups see one number as one. Numbers must be international: without a country code there
//! is no telling where a text would go.

/// Why a typed number is not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("give the number with its country code, e.g. +49 170 1234567")]
    NoCountryCode,
    #[error("a phone number has only digits after the +, and 8 to 15 of them")]
    Malformed,
}

/// The E.164 form of `input`.
pub fn normalize(input: &str) -> Result<String, NumberError> {
    let trimmed = input.trim();
    let rest = if let Some(r) = trimmed.strip_prefix('+') {
        r
    } else if let Some(r) = trimmed.strip_prefix("00") {
        r
    } else {
        return Err(NumberError::NoCountryCode);
    };
    let mut digits = String::with_capacity(16);
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '/' => {}
            _ => return Err(NumberError::Malformed),
        }
    }
    if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
        return Err(NumberError::Malformed);
    }
    Ok(format!("+{digits}"))
}

/// `+49 ••• ••• 67`: enough for the person to recognise their number, not to learn it.
pub fn masked(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return "•••".into();
    }
    let head: String = digits[..2].iter().collect();
    let tail: String = digits[digits.len() - 2..].iter().collect();
    format!("+{head} ••• {tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_e164() {
        assert_eq!(normalize("+49 170 123-4567").as_deref(), Ok("+491701234567"));
        assert_eq!(normalize("0049 (170) 1234567").as_deref(), Ok("+491701234567"));
        assert_eq!(normalize(" +1.415.555.0100 ").as_deref(), Ok("+14155550100"));
        assert_eq!(normalize("0170 1234567"), Err(NumberError::NoCountryCode));
        assert_eq!(normalize("+49 170 CALL ME"), Err(NumberError::Malformed));
        assert_eq!(normalize("+1234"), Err(NumberError::Malformed));
        assert_eq!(normalize("+1234567890123456"), Err(NumberError::Malformed));
        assert_eq!(normalize("+0123456789"), Err(NumberError::Malformed));
        assert_eq!(normalize("+49\r\n170"), Err(NumberError::Malformed));
    }

    #[test]
    fn masked_numbers_keep_the_ends() {
        assert_eq!(masked("+491701234567"), "+49 ••• 67");
        assert_eq!(masked("+1"), "•••");
    }
}
