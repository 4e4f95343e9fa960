//! The one JSON reader of the worker: strict RFC 8259 into a small [`Json`] tree, with limits.
//!
//! Every JSON the worker reads goes through [`parse`]: callback bodies, admin request bodies,
//! Tencent's answers, and its own stored formats (room state, queue messages, dead letters).
//! Types read themselves from the tree with the accessors below, by hand.
//!
//! Why not serde's `Deserialize` with serde_json: its generic deserializer, monomorphised per
//! type, and the error messages it links (float formatting among them) were a third of the
//! wasm's bytes beyond the platform floor (README, "Benchmarks"). Writing JSON stays serde's
//! `Serialize` with serde_json, which costs little, and [`Members`] for the small objects
//! that have no type of their own (not `serde_json::Value`: its map, writer and drops were
//! 8 KB of the gzipped wasm).
//!
//! What it refuses, like serde_json did: bytes that are not UTF-8, anything that is not one JSON
//! value with only whitespace around it, a lone surrogate in a `\u` escape, a control character
//! in a string, and a number too large for an `f64`. Beyond that, a member name twice in one
//! object (compared after unescaping), and going past [`Limits`].

use std::fmt;

/// A parsed JSON value. Objects keep their members in body order; a name is never there twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// A JSON number as the worker reads it: every value it stores is an integer, so a number with
/// a fraction or an exponent (or out of the 64-bit ranges) is only known to be a finite
/// non-integer. Classes follow serde_json's: `-0` is not an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Number {
    /// 0 to `u64::MAX`, written without fraction or exponent.
    Unsigned(u64),
    /// `i64::MIN` to -1, written without fraction or exponent.
    Negative(i64),
    /// Any other finite number.
    Float,
}

impl Number {
    pub fn as_u64(self) -> Option<u64> {
        match self {
            Number::Unsigned(n) => Some(n),
            Number::Negative(_) | Number::Float => None,
        }
    }

    pub fn as_i64(self) -> Option<i64> {
        match self {
            Number::Unsigned(n) => i64::try_from(n).ok(),
            Number::Negative(n) => Some(n),
            Number::Float => None,
        }
    }

    pub fn is_integer(self) -> bool {
        !matches!(self, Number::Float)
    }
}

impl Json {
    /// The member `name` of an object.
    pub fn get(&self, name: &str) -> Option<&Json> {
        self.as_object()?
            .iter()
            .find(|(member, _)| member == name)
            .map(|(_, value)| value)
    }

    pub fn as_object(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// An integer that fits a `u32`.
    pub fn as_u32(&self) -> Option<u32> {
        self.as_u64().and_then(|n| u32::try_from(n).ok())
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// True when this is an object whose member names are all among `names`: the
    /// `deny_unknown_fields` of a stored format.
    pub fn has_only(&self, names: &[&str]) -> bool {
        self.as_object().is_some_and(|members| {
            members
                .iter()
                .all(|(name, _)| names.contains(&name.as_str()))
        })
    }

    /// An optional member read with `read`: `Some(None)` when it is absent or `null`,
    /// `Some(Some(value))` when `read` accepts it, and `None` (the whole value is refused) when
    /// it does not, as serde reads an `Option` field.
    pub fn optional<'a, T>(
        &'a self,
        name: &str,
        read: impl FnOnce(&'a Json) -> Option<T>,
    ) -> Option<Option<T>> {
        match self.get(name) {
            None | Some(Json::Null) => Some(None),
            Some(value) => read(value).map(Some),
        }
    }

    /// A string, owned.
    pub fn to_owned_string(&self) -> Option<String> {
        self.as_str().map(str::to_string)
    }

    /// A string member, owned.
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name)?.to_owned_string()
    }
}

/// How deep and how large a document may be. Depth counts containers: the top-level one is
/// level 1, and a scalar inside the deepest allowed container is fine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub depth: usize,
    /// Every value at every depth, the top-level one included.
    pub values: usize,
}

impl Limits {
    /// For what the worker wrote itself, or an answer it asked for: no value limit, and deeper
    /// than any of those formats goes.
    pub const TRUSTED: Limits = Limits {
        depth: 32,
        values: usize::MAX,
    };
}

/// Why a document was refused, and at which byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    pub what: &'static str,
    pub at: usize,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

/// The one JSON value `bytes` hold, within `limits`.
pub fn parse(bytes: &[u8], limits: Limits) -> Result<Json, Error> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error {
        what: "not UTF-8",
        at: e.valid_up_to(),
    })?;
    let mut reader = Reader {
        text,
        at: 0,
        limits,
        values: 0,
    };
    let value = reader.value(1)?;
    reader.skip_whitespace();
    if reader.at < text.len() {
        return Err(reader.error("trailing characters"));
    }
    Ok(value)
}

/// The digits of the smallest decimal that rounds to infinity as an `f64` (2^1024 - 2^970,
/// halfway between `f64::MAX` and 2^1024), trailing zeros left off; it is 0.d… × 10^309.
const OVERFLOW_DIGITS: &[u8] = b"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";
const OVERFLOW_EXPONENT: i64 = 309;

struct Reader<'t> {
    text: &'t str,
    at: usize,
    limits: Limits,
    values: usize,
}

impl Reader<'_> {
    fn error(&self, what: &'static str) -> Error {
        Error { what, at: self.at }
    }

    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Consumes `byte` after optional whitespace.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        let found = self.peek() == Some(byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn require(&mut self, byte: u8, what: &'static str) -> Result<(), Error> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, Error> {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("expected value"))
        }
    }

    /// A value whose enclosing containers, plus one, number `depth`.
    fn value(&mut self, depth: usize) -> Result<Json, Error> {
        self.skip_whitespace();
        self.values += 1;
        if self.values > self.limits.values {
            return Err(self.error("more values than allowed"));
        }
        match self.peek() {
            Some(b'{') => {
                self.enter(depth)?;
                self.object(depth)
            }
            Some(b'[') => {
                self.enter(depth)?;
                self.array(depth)
            }
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Json::Number),
            Some(_) => Err(self.error("expected value")),
            None => Err(self.error("EOF while parsing a value")),
        }
    }

    fn enter(&mut self, depth: usize) -> Result<(), Error> {
        if depth > self.limits.depth {
            return Err(self.error("nested deeper than allowed"));
        }
        self.at += 1;
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Result<Json, Error> {
        let mut items = Vec::new();
        if self.eat(b']') {
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            if self.eat(b']') {
                return Ok(Json::Array(items));
            }
            self.require(b',', "expected `,` or `]`")?;
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, Error> {
        let mut members: Vec<(String, Json)> = Vec::new();
        if !self.eat(b'}') {
            loop {
                self.skip_whitespace();
                if self.peek() != Some(b'"') {
                    return Err(self.error("expected a member name"));
                }
                let name = self.string()?;
                self.require(b':', "expected `:`")?;
                let value = self.value(depth + 1)?;
                members.push((name, value));
                if self.eat(b'}') {
                    break;
                }
                self.require(b',', "expected `,` or `}`")?;
            }
        }
        if has_repeated_name(&members) {
            return Err(self.error("a member name appears twice"));
        }
        Ok(Json::Object(members))
    }

    /// A string from its opening quote, escapes resolved.
    fn string(&mut self) -> Result<String, Error> {
        self.at += 1;
        let bytes = self.text.as_bytes();
        let mut out = String::new();
        let mut run = self.at;
        loop {
            self.at = skip_plain(bytes, self.at);
            match bytes.get(self.at) {
                None => return Err(self.error("EOF while parsing a string")),
                Some(b'"') => {
                    out.push_str(&self.text[run..self.at]);
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    if run < self.at {
                        out.push_str(&self.text[run..self.at]);
                    }
                    self.at += 1;
                    out.push(self.escape()?);
                    run = self.at;
                }
                Some(0..=0x1f) => return Err(self.error("control character in a string")),
                Some(_) => self.at += 1,
            }
        }
    }

    /// The character of an escape, from the byte after its backslash.
    fn escape(&mut self) -> Result<char, Error> {
        let byte = self
            .peek()
            .ok_or_else(|| self.error("EOF while parsing a string"))?;
        self.at += 1;
        Ok(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                let code = match first {
                    0xD800..=0xDBFF => {
                        if !self.text[self.at..].starts_with("\\u") {
                            return Err(self.error("lone surrogate in a \\u escape"));
                        }
                        self.at += 2;
                        let second = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&second) {
                            return Err(self.error("lone surrogate in a \\u escape"));
                        }
                        0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(self.error("lone surrogate in a \\u escape")),
                    _ => first,
                };
                char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape"))?
            }
            _ => return Err(self.error("invalid escape")),
        })
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or_else(|| self.error("invalid \\u escape"))?;
            code = code * 16 + digit;
            self.at += 1;
        }
        Ok(code)
    }

    /// The run of ASCII digits from here, which may be empty.
    fn digits(&mut self) -> &[u8] {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        &self.text.as_bytes()[start..self.at]
    }

    fn number(&mut self) -> Result<Number, Error> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let int_start = self.at;
        let int = self.digits();
        let int_len = int.len();
        if int_len == 0 || (int_len > 1 && int[0] == b'0') {
            return Err(self.error("invalid number"));
        }
        let mut frac_len = 0;
        if self.peek() == Some(b'.') {
            self.at += 1;
            frac_len = self.digits().len();
            if frac_len == 0 {
                return Err(self.error("invalid number"));
            }
        }
        let mantissa_end = self.at;
        let mut exponent: i64 = 0;
        let mut has_exponent = false;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            has_exponent = true;
            self.at += 1;
            let minus = self.peek() == Some(b'-');
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            let digits = self.digits();
            if digits.is_empty() {
                return Err(self.error("invalid number"));
            }
            // Saturates far beyond any exponent that changes the outcome.
            for &d in digits {
                exponent = (exponent * 10 + i64::from(d - b'0')).min(1 << 40);
            }
            if minus {
                exponent = -exponent;
            }
        }
        if frac_len == 0 && !has_exponent {
            let magnitude = self.text.as_bytes()[int_start..int_start + int_len]
                .iter()
                // Not `checked_mul`: on wasm32 that is a 128-bit multiplication.
                .try_fold(0u64, |n, d| {
                    (n <= u64::MAX / 10)
                        .then(|| n * 10)?
                        .checked_add(u64::from(d - b'0'))
                });
            match (negative, magnitude) {
                (false, Some(n)) => return Ok(Number::Unsigned(n)),
                (true, Some(n)) if n != 0 && n <= 1 << 63 => {
                    return Ok(Number::Negative((n as i64).wrapping_neg()))
                }
                _ => {}
            }
        }
        // A float: refuse it only when it rounds to infinity. Its digits, without the point:
        let mantissa = self.text.as_bytes()[int_start..mantissa_end]
            .iter()
            .filter(|b| **b != b'.');
        let Some(first) = mantissa.clone().position(|d| *d != b'0') else {
            return Ok(Number::Float);
        };
        let magnitude = int_len as i64 - first as i64 + exponent;
        // Trailing zeros need no trimming: the overflow digits end in a non-zero one.
        let overflows = magnitude > OVERFLOW_EXPONENT
            || (magnitude == OVERFLOW_EXPONENT
                && mantissa.skip(first).cmp(OVERFLOW_DIGITS) != std::cmp::Ordering::Less);
        if overflows {
            return Err(self.error("number out of range"));
        }
        Ok(Number::Float)
    }
}

/// Past the bytes from `at` that a string takes as they are, 8 at a time while none of the 8 is
/// `"`, `\` or a control character; the caller goes on byte by byte from where it stops.
fn skip_plain(bytes: &[u8], mut at: usize) -> usize {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    // Non-zero when some byte of `word` is below `n` (at most 0x80): the "hasless" trick.
    let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGH;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(chunk);
        let quote = below(word ^ (ONES * u64::from(b'"')), 1);
        let backslash = below(word ^ (ONES * u64::from(b'\\')), 1);
        if quote | backslash | below(word, 0x20) != 0 {
            break;
        }
        at += 8;
    }
    at
}

/// True when two members of one object share a name: pairwise for a small object; for a large
/// one, through a table of names by hash, so a wide object costs about n. Names crafted to
/// collide make the probes long: past a budget, sorting settles it in n·log n.
fn has_repeated_name(members: &[(String, Json)]) -> bool {
    if members.len() <= 8 {
        return members
            .iter()
            .enumerate()
            .any(|(i, (name, _))| members[..i].iter().any(|(seen, _)| seen == name));
    }
    let mask = (members.len() * 2).next_power_of_two() - 1;
    let mut table = vec![usize::MAX; mask + 1];
    let mut budget = members.len() * 8;
    for (i, (name, _)) in members.iter().enumerate() {
        let mut slot = name_hash(name) as usize & mask;
        loop {
            let seen = table[slot];
            if seen == usize::MAX {
                table[slot] = i;
                break;
            }
            if members[seen].0 == *name {
                return true;
            }
            if budget == 0 {
                let mut names: Vec<&str> = members.iter().map(|(name, _)| name.as_str()).collect();
                names.sort_unstable();
                return names.windows(2).any(|pair| pair[0] == pair[1]);
            }
            budget -= 1;
            slot = (slot + 1) & mask;
        }
    }
    false
}

/// FNV-1a.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A JSON object written member by member, in the order given: error bodies, small answers
/// and the room object's log lines. Strings are escaped by serde_json, as in every `Serialize`
/// the worker writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members(String);

impl Members {
    pub fn new() -> Members {
        Members::default()
    }

    pub fn str(self, name: &str, value: &str) -> Members {
        self.raw(name, &quoted(value))
    }

    /// `null` when `None`.
    pub fn opt_str(self, name: &str, value: Option<&str>) -> Members {
        match value {
            Some(value) => self.str(name, value),
            None => self.raw(name, "null"),
        }
    }

    pub fn num(self, name: &str, value: u64) -> Members {
        self.raw(name, &value.to_string())
    }

    pub fn bool(self, name: &str, value: bool) -> Members {
        self.raw(name, if value { "true" } else { "false" })
    }

    /// An array of strings.
    pub fn strs(self, name: &str, values: &[String]) -> Members {
        let items: Vec<String> = values.iter().map(|v| quoted(v)).collect();
        self.raw(name, &format!("[{}]", items.join(",")))
    }

    /// `more`'s members after these.
    pub fn and(mut self, more: Members) -> Members {
        if !self.0.is_empty() && !more.0.is_empty() {
            self.0.push(',');
        }
        self.0.push_str(&more.0);
        self
    }

    /// The object's text.
    pub fn object(&self) -> String {
        format!("{{{}}}", self.0)
    }

    /// A member whose value is JSON text already (from a `Serialize`).
    pub fn raw(mut self, name: &str, json: &str) -> Members {
        if !self.0.is_empty() {
            self.0.push(',');
        }
        self.0.push_str(&quoted(name));
        self.0.push(':');
        self.0.push_str(json);
        self
    }
}

/// A JSON string of `text`.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    const OPEN: Limits = Limits {
        depth: 128,
        values: usize::MAX,
    };

    fn same_as_serde(json: &Json, value: &Value) -> bool {
        match (json, value) {
            (Json::Null, Value::Null) => true,
            (Json::Bool(a), Value::Bool(b)) => a == b,
            (Json::Number(Number::Unsigned(a)), Value::Number(b)) => b.as_u64() == Some(*a),
            (Json::Number(Number::Negative(a)), Value::Number(b)) => {
                b.as_i64() == Some(*a) && b.as_u64().is_none()
            }
            (Json::Number(Number::Float), Value::Number(b)) => b.is_f64(),
            (Json::String(a), Value::String(b)) => a == b,
            (Json::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_as_serde(a, b))
            }
            (Json::Object(a), Value::Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(name, a)| b.get(name).is_some_and(|b| same_as_serde(a, b)))
            }
            _ => false,
        }
    }

    /// serde_json's reading of `bytes`, when it accepts them.
    fn serde_reading(bytes: &[u8]) -> Option<Value> {
        serde_json::from_slice(bytes).ok()
    }

    fn reads(text: &str) -> Result<Json, Error> {
        parse(text.as_bytes(), OPEN)
    }

    #[test]
    fn reads_every_kind_of_value() {
        let json = reads(
            r#" {"a": [1, -2, 3.5, true, false, null], "b": {"c": "d\n\u00e9\ud83d\ude00"}} "#,
        )
        .expect("valid");
        assert_eq!(
            json.get("a").and_then(Json::as_array).map(<[Json]>::len),
            Some(6)
        );
        let a = json.get("a").and_then(Json::as_array).expect("array");
        assert_eq!(a[0].as_u64(), Some(1));
        assert_eq!(a[1].as_i64(), Some(-2));
        assert_eq!(a[2], Json::Number(Number::Float));
        assert_eq!(a[3].as_bool(), Some(true));
        assert!(a[5].is_null());
        assert_eq!(
            json.get("b")
                .and_then(|b| b.get("c"))
                .and_then(Json::as_str),
            Some("d\né😀")
        );
    }

    #[test]
    fn numbers_are_classed_as_serde_json_classes_them() {
        for (text, number) in [
            ("0", Number::Unsigned(0)),
            ("18446744073709551615", Number::Unsigned(u64::MAX)),
            ("18446744073709551616", Number::Float),
            ("-1", Number::Negative(-1)),
            ("-9223372036854775808", Number::Negative(i64::MIN)),
            ("-9223372036854775809", Number::Float),
            ("-0", Number::Float),
            ("1.0", Number::Float),
            ("1e2", Number::Float),
            ("1e-400", Number::Float),
            ("1.7976931348623157e308", Number::Float),
            ("179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791", Number::Float),
        ] {
            assert_eq!(reads(text), Ok(Json::Number(number)), "{text}");
        }
        for text in [
            "1e400",
            "-1e309",
            "1.7976931348623159e308",
            "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792",
            "0.01e311",
        ] {
            assert_eq!(reads(text).map_err(|e| e.what), Err("number out of range"), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_one_json_value() {
        for text in [
            "",
            " ",
            "{",
            "}",
            "[1,]",
            "[,1]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "01",
            "1.",
            ".5",
            "1e",
            "-",
            "+1",
            "tru",
            "nul",
            "\"abc",
            "\"\\x\"",
            "\"\\u12\"",
            "\"a\u{1}\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "1 2",
            "{} x",
            "NaN",
            "[1]]",
            "{\"a\":1,\"a\":2}",
            "{\"a\":1,\"\\u0061\":2}",
        ] {
            assert!(reads(text).is_err(), "{text:?}");
            if !text.contains("\"a\":1,\"") {
                assert!(serde_reading(text.as_bytes()).is_none(), "{text:?}");
            }
        }
        assert!(parse(b"\"\xff\"", OPEN).is_err());
    }

    #[test]
    fn a_repeated_name_is_found_in_any_object_however_wide() {
        let wide: Vec<String> = (0..1000).map(|i| format!(r#""n{i}":{i}"#)).collect();
        let text = format!(r#"{{"x":[{{{},"n7":0}}]}}"#, wide.join(","));
        assert_eq!(
            reads(&text).map_err(|e| e.what),
            Err("a member name appears twice")
        );
        let text = format!(r#"{{"x":[{{{}}}],"n7":0}}"#, wide.join(","));
        assert!(reads(&text).is_ok());
    }

    #[test]
    fn names_crafted_to_collide_are_still_told_apart() {
        // 40 members take a table of 128 slots; these names all hash to one slot.
        let names: Vec<String> = (0..)
            .map(|i| format!("k{i}"))
            .filter(|name| name_hash(name) & 127 == 0)
            .take(41)
            .collect();
        let object = |names: &[String]| {
            let members: Vec<String> = names.iter().map(|n| format!(r#""{n}":0"#)).collect();
            format!("{{{}}}", members.join(","))
        };
        assert!(reads(&object(&names[..40])).is_ok());
        let mut repeated = names[..40].to_vec();
        repeated.push(names[3].clone());
        assert_eq!(
            reads(&object(&repeated)).map_err(|e| e.what),
            Err("a member name appears twice")
        );
    }

    #[test]
    fn limits_count_containers_and_values() {
        let limits = Limits {
            depth: 3,
            values: 5,
        };
        assert!(parse(b"[[[1]]]", limits).is_ok());
        assert_eq!(
            parse(b"[[[[]]]]", limits).map_err(|e| e.what),
            Err("nested deeper than allowed")
        );
        assert!(parse(b"[1,2,3,4]", limits).is_ok());
        assert_eq!(
            parse(b"[1,2,3,4,5]", limits).map_err(|e| e.what),
            Err("more values than allowed")
        );
    }

    #[test]
    fn errors_say_what_and_where() {
        let error = reads("[1, x]").unwrap_err();
        assert_eq!(error.to_string(), "expected value at byte 4");
    }

    #[test]
    fn optional_members_read_like_serde_options() {
        let json = reads(r#"{"a":1,"b":null,"c":"x"}"#).expect("valid");
        assert_eq!(json.optional("a", Json::as_u64), Some(Some(1)));
        assert_eq!(json.optional("b", Json::as_u64), Some(None));
        assert_eq!(json.optional("z", Json::as_u64), Some(None));
        assert_eq!(json.optional("c", Json::as_u64), None);
        assert!(json.has_only(&["a", "b", "c", "d"]));
        assert!(!json.has_only(&["a", "b"]));
    }

    /// Text made of JSON's own pieces, so most of it is nearly valid.
    fn jsonish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("{".to_string()),
            Just("}".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just(",".to_string()),
            Just(":".to_string()),
            Just(" ".to_string()),
            Just("\"a\"".to_string()),
            Just("\"b\"".to_string()),
            Just("\"\\u0062\"".to_string()),
            Just("\"\\n\\\"\"".to_string()),
            Just("null".to_string()),
            Just("true".to_string()),
            Just("-0".to_string()),
            Just("1.5e3".to_string()),
            Just("1e999".to_string()),
            "-?[0-9]{1,21}",
        ];
        proptest::collection::vec(piece, 1..24).prop_map(|pieces| pieces.concat())
    }

    /// A random JSON value, written by serde_json.
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn accepts_and_reads_what_serde_json_does(text in jsonish()) {
            let ours = reads(&text);
            match serde_reading(text.as_bytes()) {
                // serde_json keeps the last of a repeated name, which this reader refuses.
                Some(value) => prop_assert!(
                    ours.as_ref().map_or_else(
                        |e| e.what == "a member name appears twice",
                        |json| same_as_serde(json, &value)
                    ),
                    "{text:?}: {ours:?} vs {value:?}"
                ),
                None => prop_assert!(ours.is_err(), "{text:?}: {ours:?}"),
            }
        }

        #[test]
        fn reads_back_whatever_serde_json_writes(value in value()) {
            let text = serde_json::to_string(&value).expect("serialises");
            let json = reads(&text);
            prop_assert!(json.as_ref().is_ok_and(|json| same_as_serde(json, &value)), "{text}: {json:?}");
            let pretty = serde_json::to_string_pretty(&value).expect("serialises");
            prop_assert_eq!(reads(&pretty), json);
        }
    }

    #[test]
    fn members_are_written_in_the_order_given() {
        let members = Members::new()
            .num("n", u64::MAX)
            .bool("t", true)
            .opt_str("none", None)
            .strs("empty", &[])
            .raw("raw", r#"[{"a":1}]"#);
        assert_eq!(
            members.and(Members::new().str("s", "x")).object(),
            r#"{"n":18446744073709551615,"t":true,"none":null,"empty":[],"raw":[{"a":1}],"s":"x"}"#
        );
        assert_eq!(Members::new().and(Members::new()).object(), "{}");
        assert_eq!(
            Members::new().and(Members::new().bool("f", false)).object(),
            r#"{"f":false}"#
        );
    }

    proptest! {
        #[test]
        fn members_write_what_serde_json_writes(
            name in "\\PC{0,8}",
            text in "(\\PC|[\\x00-\\x1f\"\\\\\u{7f}\u{2028}])*",
            texts in proptest::collection::vec("(\\PC|[\\x00-\\x1f\"\\\\])*", 0..3),
        ) {
            prop_assume!(name != "some" && name != "list");
            let written = Members::new()
                .str(&name, &text)
                .opt_str("some", Some(&text))
                .strs("list", &texts)
                .object();
            let mut expected = serde_json::Map::new();
            expected.insert(name.clone(), text.clone().into());
            expected.insert("some".into(), text.clone().into());
            expected.insert("list".into(), texts.clone().into());
            // Byte for byte: each string is escaped as serde_json escapes it.
            let escaped = |s: &str| serde_json::to_string(s).unwrap_or_default();
            let head = format!("{{{}:{},", escaped(&name), escaped(&text));
            let tail = format!(
                r#""list":{}}}"#,
                serde_json::to_string(&texts).unwrap_or_default()
            );
            prop_assert!(written.starts_with(&head), "{} {}", written, head);
            prop_assert!(written.ends_with(&tail), "{} {}", written, tail);
            prop_assert_eq!(serde_json::from_str::<Value>(&written).ok(), Some(Value::Object(expected)));
        }
    }
}
