//! Strict unpadded base64url decoding into a caller's buffer, for the two segments of every
//! token (claims and signature): a table lookup per character, no allocation.
//!
//! Accepts exactly what `base64`'s `URL_SAFE_NO_PAD` engine accepts (the module's tests
//! compare both): only the 64 base64url characters, no `=`, no length of the form `4n + 1`, and
//! the unused low bits of the last character zero, so that every byte string has one encoding.

/// Marks a byte that is not a base64url character. Valid digits are below 64, so any of them
/// OR-ed with this has the two top bits set.
const NOT_A_DIGIT: u8 = 0xFF;

/// The value of each byte as a base64url digit.
const DIGITS: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut digits = [NOT_A_DIGIT; 256];
    let mut index = 0;
    while index < alphabet.len() {
        digits[alphabet[index] as usize] = index as u8;
        index += 1;
    }
    digits
};

/// How many bytes `encoded_len` characters decode to, or `None` for an impossible length.
pub(crate) fn decoded_len(encoded_len: usize) -> Option<usize> {
    let tail = match encoded_len % 4 {
        0 => 0,
        2 => 1,
        3 => 2,
        _ => return None,
    };
    Some(encoded_len / 4 * 3 + tail)
}

/// Decodes `input` into the start of `output`; returns how many bytes were written. `None`
/// when `input` is not canonical unpadded base64url or `output` is too short.
pub(crate) fn decode_into(input: &[u8], output: &mut [u8]) -> Option<usize> {
    let len = decoded_len(input.len())?;
    let output = output.get_mut(..len)?;
    let (quads, tail) = input.split_at(input.len() / 4 * 4);
    let (whole, rest) = output.split_at_mut(quads.len() / 4 * 3);
    // A character that is not a digit sets the top bits of `seen`: checked once after the
    // loop, so that the loop has no branch of its own.
    let mut seen = 0u8;
    for (quad, bytes) in quads.chunks_exact(4).zip(whole.chunks_exact_mut(3)) {
        let [a, b, c, d] = [quad[0], quad[1], quad[2], quad[3]].map(digit);
        seen |= a | b | c | d;
        let group = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
        bytes.copy_from_slice(&group.to_be_bytes()[1..]);
    }
    if seen & 0xC0 != 0 {
        return None;
    }
    match (tail, rest) {
        ([], []) => {}
        ([a, b], [first]) => {
            let [a, b] = [*a, *b].map(digit);
            // 12 bits carry 8: the low 4 must be zero.
            if (a | b) & 0xC0 != 0 || b & 0x0F != 0 {
                return None;
            }
            *first = a << 2 | b >> 4;
        }
        ([a, b, c], [first, second]) => {
            let [a, b, c] = [*a, *b, *c].map(digit);
            // 18 bits carry 16: the low 2 must be zero.
            if (a | b | c) & 0xC0 != 0 || c & 0x03 != 0 {
                return None;
            }
            *first = a << 2 | b >> 4;
            *second = b << 4 | c >> 2;
        }
        _ => return None,
    }
    Some(len)
}

fn digit(byte: u8) -> u8 {
    DIGITS[usize::from(byte)]
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn ours(input: &[u8]) -> Option<Vec<u8>> {
        let mut output = vec![0u8; input.len()];
        let written = decode_into(input, &mut output)?;
        output.truncate(written);
        Some(output)
    }

    /// A small deterministic generator (xorshift), so the comparison covers many inputs
    /// without a dependency.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn round_trips_every_length_up_to_200_bytes() {
        let mut state = 0x9E37_79B9_7F4A_7C15;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len).map(|_| next(&mut state) as u8).collect();
            let encoded = URL_SAFE_NO_PAD.encode(&bytes);
            assert_eq!(ours(encoded.as_bytes()), Some(bytes), "{encoded}");
        }
    }

    #[test]
    fn agrees_with_the_base64_crate_on_arbitrary_input() {
        // Mostly valid characters with a few others mixed in, at every length up to 12 and
        // some longer, so that each rule (alphabet, length, leftover bits) is hit often.
        let alphabet = b"AQgw_-9zB+/=.\0\xff ";
        let mut state = 0x2545_F491_4F6C_DD1D;
        for round in 0..200_000usize {
            let len = if round.is_multiple_of(10) {
                40 + round % 9
            } else {
                round % 13
            };
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    let pick = next(&mut state);
                    if pick.is_multiple_of(8) {
                        alphabet[(pick >> 8) as usize % alphabet.len()]
                    } else {
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                            [(pick >> 8) as usize % 64]
                    }
                })
                .collect();
            assert_eq!(
                ours(&input),
                URL_SAFE_NO_PAD.decode(&input).ok(),
                "{:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }

    #[test]
    fn a_short_output_buffer_is_refused() {
        let mut output = [0u8; 2];
        assert_eq!(decode_into(b"AAAA", &mut output), None);
        assert_eq!(decode_into(b"AAA", &mut output), Some(2));
    }

    #[test]
    fn impossible_lengths_have_no_decoded_length() {
        assert_eq!(decoded_len(1), None);
        assert_eq!(decoded_len(5), None);
        assert_eq!(decoded_len(43), Some(32));
        assert_eq!(decoded_len(0), Some(0));
    }
}
