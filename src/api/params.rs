//! Query-string parameters, read by name with typed accessors that report errors as
//! `name: why` (422).
//!
//! Lists (`event_types`) are accepted in every form SDKs send: repeated keys, `name[]=`
//! keys, and comma-separated values. A scalar given twice is refused rather than guessed.

use super::error::ApiError;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Turns parsed query parameters into a typed value.
pub trait FromQuery: Sized {
    /// Reads the parameters `Self` knows; unknown ones are ignored.
    ///
    /// # Errors
    /// A 422 naming the first bad parameter.
    fn from_query(params: &QueryParams) -> Result<Self, ApiError>;
}

/// The decoded `name → values` pairs of a query string.
#[derive(Debug, Default)]
pub struct QueryParams(HashMap<String, Vec<String>>);

impl QueryParams {
    /// Decodes a raw query string (`a=1&b=2`); `name[]` and `name[3]` keys count as `name`.
    pub fn parse(query: &str) -> Self {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let key = match key.find('[') {
                Some(i) if key.ends_with(']') => key[..i].to_owned(),
                _ => key.into_owned(),
            };
            map.entry(key).or_default().push(value.into_owned());
        }
        Self(map)
    }

    /// The single value of `name`; absent or empty is `None`.
    ///
    /// # Errors
    /// A 422 if `name` is given more than once.
    pub fn str(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(one.as_str()).filter(|s| !s.is_empty())),
            Some(_) => Err(ApiError::validation(name, "may be given only once")),
        }
    }

    /// `name` parsed by `parse`, whose error text is prefixed with the name.
    ///
    /// # Errors
    /// A 422 when `parse` refuses the value.
    pub fn parsed<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ApiError> {
        self.str(name)?
            .map(|v| parse(v).map_err(|e| ApiError::validation(name, e)))
            .transpose()
    }

    /// A boolean (`true`/`false`, any case, or `1`/`0`), `default` when absent.
    ///
    /// # Errors
    /// A 422 for any other value.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        Ok(self.parsed(name, parse_bool)?.unwrap_or(default))
    }

    /// An RFC 3339 timestamp such as `2024-05-01T12:00:00Z`.
    ///
    /// # Errors
    /// A 422 for anything else.
    pub fn datetime(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.parsed(name, parse_datetime)
    }

    /// Every value of a list parameter, split on commas, empty items dropped.
    pub fn list(&self, name: &str) -> Vec<&str> {
        self.0
            .get(name)
            .into_iter()
            .flatten()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    }
}

fn parse_bool(v: &str) -> Result<bool, &'static str> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err("must be true or false"),
    }
}

/// Parses RFC 3339. A `+` offset sent unencoded arrives as a space; it is put back.
fn parse_datetime(v: &str) -> Result<DateTime<Utc>, String> {
    let fixed = v.replace(' ', "+");
    DateTime::parse_from_rfc3339(&fixed)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{v:?} is not an RFC 3339 timestamp like 2024-05-01T12:00:00Z"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lists_accept_repeats_brackets_and_commas() {
        let q = QueryParams::parse("event_types=a,b&event_types[]=c&event_types%5B1%5D=d&x=1");
        assert_eq!(q.list("event_types"), ["a", "b", "c", "d"]);
        assert!(q.list("nothing").is_empty());
    }

    #[test]
    fn scalars_given_twice_are_refused_and_empty_means_absent() {
        let q = QueryParams::parse("limit=1&limit=2&iterator=");
        assert!(q.str("limit").is_err());
        assert_eq!(q.str("iterator").unwrap(), None);
    }

    #[test]
    fn booleans_and_timestamps_parse_or_name_the_parameter() {
        let q = QueryParams::parse("a=TRUE&b=nope&t=2024-05-01T12:00:00+02:00&u=yesterday");
        assert!(q.bool("a", false).unwrap());
        assert!(!q.bool("missing", false).unwrap());
        assert!(
            q.bool("b", false)
                .unwrap_err()
                .to_string()
                .starts_with("b: ")
        );
        let t = q.datetime("t").unwrap().unwrap();
        assert_eq!(t.to_rfc3339(), "2024-05-01T10:00:00+00:00");
        assert!(q.datetime("u").unwrap_err().to_string().starts_with("u: "));
    }
}
