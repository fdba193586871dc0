//! `${ENV_VAR}` interpolation in string values, and the [`Redactions`] that keep the values
//! out of error messages (secrets live in the environment; an error prints `${VAR}`).

/// Replaces every `${NAME}` in `s` through `env`. `$${` stands for a literal `${`.
///
/// Names are `[A-Za-z_][A-Za-z0-9_]*`. The error names the first variable that is not set, or
/// describes a malformed reference.
pub(crate) fn interpolate(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    if !s.contains("${") {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        if rest[..i].ends_with('$') {
            // `$${` is an escaped, literal `${`.
            out.push_str(&rest[..i - 1]);
            out.push_str("${");
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            return Err(malformed(&rest[i..]));
        };
        let name = &after[..end];
        if !is_var_name(name) {
            return Err(malformed(&rest[i..i + 2 + end + 1]));
        }
        match env(name) {
            Some(value) => out.push_str(&value),
            None => return Err(format!("environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn malformed(reference: &str) -> String {
    format!(
        "invalid environment variable reference \"{reference}\" \
         (expected ${{NAME}} with NAME matching [A-Za-z_][A-Za-z0-9_]*; write $${{ for a literal ${{)"
    )
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Values that came from `${ENV_VAR}` references, each with the text it was written as.
///
/// Error messages — configuration errors, a rejected reload's reply and audit line, a bind or
/// TLS failure naming an address or a path — go through [`Redactions::apply`], which prints
/// the reference (`${ADMIN_TOKEN}`) wherever the value would have appeared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactions {
    /// (value, as written), longest value first.
    pairs: Vec<(String, String)>,
}

/// Values shorter than this are replaced only in errors about the value itself: a short value
/// (`"1"`, `"80"`) would otherwise be "redacted" inside unrelated numbers of a message.
const MIN_GLOBAL_LEN: usize = 4;

impl Redactions {
    /// Remember that `written` (containing `${...}`) became `value`.
    pub(crate) fn add(&mut self, value: &str, written: &str) {
        if value.is_empty() || value == written || self.pairs.iter().any(|(v, _)| v == value) {
            return;
        }
        self.pairs.push((value.to_owned(), written.to_owned()));
        self.pairs.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
    }

    /// Whether no value came from the environment.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// `msg` with every environment value of at least [`MIN_GLOBAL_LEN`] bytes replaced by the
    /// reference it was written as.
    pub fn apply(&self, msg: &str) -> String {
        self.apply_with(msg, None)
    }

    /// [`Redactions::apply`], also replacing `own` (the value the message is about) where the
    /// message quotes it, whatever its length.
    pub(crate) fn apply_with(&self, msg: &str, own: Option<(&str, &str)>) -> String {
        let mut out = msg.to_owned();
        if let Some((value, written)) = own.filter(|(v, _)| !v.is_empty()) {
            out = out.replace(&format!("{value:?}"), &format!("{written:?}"));
            out = out.replace(&format!("\"{value}\""), &format!("\"{written}\""));
            out = hide_fragments(&out, value);
        }
        for (value, written) in &self.pairs {
            if value.len() >= MIN_GLOBAL_LEN && out.contains(value.as_str()) {
                out = out.replace(value.as_str(), written);
            }
        }
        out
    }
}

/// `msg` with every quoted part that quotes a piece of `value` (a part of it, or a form of
/// it rewritten: a suggested correction, a label of a name) replaced by `"…"`. A quoted part
/// is taken to come from the value when one of its words (letters and digits, 3 or more) is in
/// the value; quoted references (`"${VAR}"`) and generic quotes (`"/"`, `"10s"` in a help text
/// whose words are not in the value) stay.
fn hide_fragments(msg: &str, value: &str) -> String {
    let value = value.to_ascii_lowercase();
    let from_value = |quoted: &str| {
        !quoted.starts_with("${")
            && quoted
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w.len() >= 3 && value.contains(&w.to_ascii_lowercase()))
    };
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(open) = rest.find('"') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('"') else { break };
        let quoted = &after[..close];
        out.push_str(&rest[..=open]);
        out.push_str(if from_value(quoted) { "…" } else { quoted });
        out.push('"');
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "_A1" => Some("x".into()),
            _ => None,
        }
    }

    #[test]
    fn replaces_every_reference() {
        assert_eq!(interpolate("plain", &env).unwrap(), "plain");
        assert_eq!(interpolate("${TOKEN}", &env).unwrap(), "s3cret");
        assert_eq!(
            interpolate("a${TOKEN}b${_A1}c", &env).unwrap(),
            "as3cretbxc"
        );
        assert_eq!(interpolate("$5 and $TOKEN", &env).unwrap(), "$5 and $TOKEN");
    }

    #[test]
    fn escaped_reference_is_literal() {
        assert_eq!(interpolate("$${TOKEN}", &env).unwrap(), "${TOKEN}");
    }

    #[test]
    fn redactions_print_the_reference() {
        let mut r = Redactions::default();
        r.add("s3cret-token", "${TOKEN}");
        r.add("80", "${PORT}");
        r.add("plain", "plain");
        assert_eq!(
            r.apply("bad token s3cret-token, port 80"),
            "bad token ${TOKEN}, port 80"
        );
        assert_eq!(
            r.apply_with("invalid port \"80\" (1..8080)", Some(("80", "${PORT}"))),
            "invalid port \"${PORT}\" (1..8080)"
        );
        assert!(!r.is_empty());
    }

    #[test]
    fn quoted_pieces_of_an_env_value_are_hidden() {
        let r = Redactions::default();
        let own = Some(("/secret-path//x", "${P}"));
        assert_eq!(
            r.apply_with(
                "path_prefix \"/secret-path//x\" must start with \"/\"; write \"/secret-path/x\"",
                own
            ),
            "path_prefix \"${P}\" must start with \"/\"; write \"…\""
        );
        assert_eq!(
            r.apply_with(
                "invalid CIDR \"supersecret/8\": \"supersecret\" is not an IP address",
                Some(("supersecret/8", "${C}"))
            ),
            "invalid CIDR \"${C}\": \"…\" is not an IP address"
        );
    }

    #[test]
    fn missing_variable_is_named() {
        assert_eq!(
            interpolate("x${NOPE}y", &env).unwrap_err(),
            "environment variable NOPE is not set"
        );
    }

    #[test]
    fn malformed_references_are_errors() {
        for bad in ["${", "${TOKEN", "${1A}", "${A-B}", "${}"] {
            let err = interpolate(bad, &env).unwrap_err();
            assert!(
                err.starts_with("invalid environment variable reference"),
                "{bad}: {err}"
            );
        }
    }
}
