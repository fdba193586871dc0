//! `${ENV_VAR}` interpolation in string values.

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
