//! `check_placeholders` on arbitrary JSON with an arbitrary attachment count.
//!
//! Input layout: the first 8 bytes (little endian, zero padded) are the attachment count
//! (reduced modulo 16 unless the top bit is set, so that small counts dominate), the rest is
//! parsed as JSON (inputs that are not JSON are skipped). The value is checked both as a
//! single argument and, when it is an array, as an argument list.
//!
//! Checks against an independent oracle: accepted exactly when every object with
//! `"_placeholder": true` has a non-negative integer `num` below the count (such an object is
//! a leaf: what it contains is not looked at); and monotony in the count.
#![no_main]

use libfuzzer_sys::fuzz_target;
use realtime_core::wire::socketio::{check_placeholders, placeholder, ParseError};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let (head, json) = data.split_at(data.len().min(8));
    let mut raw = [0u8; 8];
    raw[..head.len()].copy_from_slice(head);
    let raw = u64::from_le_bytes(raw);
    let count = if raw >> 63 == 1 {
        raw as usize
    } else {
        (raw % 16) as usize
    };

    let Ok(value) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    check(std::slice::from_ref(&value), count);
    if let Value::Array(items) = &value {
        check(items, count);
    }
});

fn check(values: &[Value], count: usize) {
    let max = values
        .iter()
        .map(max_needed)
        .try_fold(0usize, |acc, m| m.map(|m| acc.max(m)));
    let expected = match max {
        Some(needed) if needed <= count => Ok(()),
        _ => Err(ParseError::InvalidPlaceholder),
    };
    assert_eq!(
        check_placeholders(values, count),
        expected,
        "count {count}, {values:?}"
    );

    // Monotony: a valid tree stays valid with more attachments; the minimum count works.
    if let Some(needed) = max {
        assert_eq!(check_placeholders(values, needed), Ok(()));
        assert_eq!(check_placeholders(values, usize::MAX), Ok(()));
        if needed > 0 {
            assert_eq!(
                check_placeholders(values, needed - 1),
                Err(ParseError::InvalidPlaceholder)
            );
        }
    } else {
        assert_eq!(
            check_placeholders(values, usize::MAX),
            Err(ParseError::InvalidPlaceholder)
        );
    }

    // Wrapping a tree in a placeholder-free array or object changes nothing.
    let wrapped = [
        Value::Array(values.to_vec()),
        serde_json::json!({ "k": values }),
    ];
    assert_eq!(check_placeholders(&wrapped, count), expected);
    // Adding a valid placeholder for the last attachment changes nothing either.
    if count > 0 {
        let mut more = values.to_vec();
        more.push(placeholder(count - 1));
        assert_eq!(check_placeholders(&more, count), expected);
    }
}

/// The smallest attachment count that makes every placeholder in `v` valid (0 when there is
/// none), or `None` when one of them can never be valid.
fn max_needed(v: &Value) -> Option<usize> {
    match v {
        Value::Array(items) => items
            .iter()
            .try_fold(0, |acc, i| max_needed(i).map(|m| acc.max(m))),
        Value::Object(map) if map.get("_placeholder") == Some(&Value::Bool(true)) => match map
            .get("num")
        {
            Some(Value::Number(n)) => n.as_u64().filter(|n| *n < u64::MAX).map(|n| n as usize + 1),
            _ => None,
        },
        Value::Object(map) => map
            .values()
            .try_fold(0, |acc, i| max_needed(i).map(|m| acc.max(m))),
        _ => Some(0),
    }
}
