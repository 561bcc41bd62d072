//! Standard base64 (RFC 4648 §4, padded) for SCRAM's nonces, salts, proofs and verifiers: a
//! few dozen bytes per login, so plain loops rather than the `base64` crate's engines (which
//! were 6 KB of the .wasm).

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `bytes` in base64 with `=` padding.
pub(crate) fn encode(bytes: impl AsRef<[u8]>) -> String {
    let bytes = bytes.as_ref();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            match i <= chunk.len() {
                true => out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize])),
                false => out.push('='),
            }
        }
    }
    out
}

/// Decodes canonical padded base64: a length that is a multiple of four, `=` only as the last
/// one or two characters, no whitespace, and the unused low bits of the last character zero.
/// `None` for anything else.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let padding = text
        .iter()
        .rev()
        .take(2)
        .take_while(|&&c| c == b'=')
        .count();
    let (data, _) = text.split_at(text.len() - padding);
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for chunk in data.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= u32::from(value(c)?) << (18 - 6 * i);
        }
        // A last chunk of two or three characters holds one or two bytes.
        let len = chunk.len() - 1;
        let unused = n & ((1 << (24 - 8 * len)) - 1);
        if len < 3 && unused != 0 {
            return None;
        }
        out.extend((0..len).map(|i| (n >> (16 - 8 * i)) as u8));
    }
    Some(out)
}

fn value(c: u8) -> Option<u8> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    #[test]
    fn agrees_with_the_base64_crate() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for len in 0..64 {
            for _ in 0..50 {
                let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                let text = encode(&bytes);
                assert_eq!(text, STANDARD.encode(&bytes));
                assert_eq!(decode(&text), Some(bytes));
            }
        }
        // Mutated texts: decoded exactly when the crate decodes them (it requires canonical
        // padding and zero trailing bits, as this does).
        let seeds = [
            "",
            "Zg==",
            "Zm8=",
            "Zm9v",
            "Zm9vYmFy",
            "cmFuZG9tIHNhbHQ=",
            "+/+/",
        ];
        let swaps = b"=A/+a0 \n\x00\xc3-_.";
        for seed in seeds {
            let mut texts: Vec<Vec<u8>> = (0..=seed.len())
                .map(|n| seed.as_bytes()[..n].to_vec())
                .collect();
            for i in 0..seed.len() {
                for &swap in swaps {
                    let mut t = seed.as_bytes().to_vec();
                    t[i] = swap;
                    texts.push(t);
                }
            }
            texts.push(format!("{seed}=").into_bytes());
            texts.push(format!("{seed}====").into_bytes());
            for t in texts {
                let Ok(t) = String::from_utf8(t) else {
                    continue;
                };
                assert_eq!(decode(&t), STANDARD.decode(&t).ok(), "{t:?}");
            }
        }
        assert_eq!(decode("Zh=="), None);
        assert_eq!(decode("Zm9=="), None);
        assert_eq!(decode("=Zm9"), None);
    }
}
