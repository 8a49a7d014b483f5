//! Values put where their bytes mean something: a URL's query string, and
//! (from `command`) a word of a shell command line.

/// A value made safe for a URL's query string.
pub(crate) fn query_value(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

pub(crate) use crate::command::shell_word;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(query_value("/a b&c"), "%2Fa+b%26c");
    }
}
