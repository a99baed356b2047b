//! Text in the PDF's standard Helvetica faces: encoding to WinAnsi bytes, measuring with
//! Helvetica's metrics, and wrapping to a width.

/// `text` in Windows-1252 (WinAnsiEncoding): Latin-1, the euro sign and typographic
/// punctuation; anything else becomes `?`.
pub(super) fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' | '\u{a0}'..='\u{ff}' => u8::try_from(u32::from(c)).unwrap_or(b'?'),
            '€' => 0x80,
            '‚' => 0x82,
            '„' => 0x84,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '™' => 0x99,
            'Š' => 0x8a,
            'Œ' => 0x8c,
            'Ž' => 0x8e,
            'š' => 0x9a,
            'œ' => 0x9c,
            'ž' => 0x9e,
            'Ÿ' => 0x9f,
            _ => b'?',
        })
        .collect()
}

/// Helvetica's advance widths (thousandths of the font size) for ASCII 32 to 126.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // ' '..'/'
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584,
    556, // '0'..'?'
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722,
    778, // '@'..'O'
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
    556, // 'P'..'_'
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556,
    556, // '`'..'o'
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // 'p'..'~'
];

/// The width of `text` at `size` in Helvetica (bold is a few percent wider in letters,
/// which wrapping leaves room for; digits, `.` and spaces are the same in both).
pub(super) fn width(text: &str, size: f32) -> f32 {
    let units: u32 = text
        .chars()
        .map(|c| {
            u32::from(c)
                .checked_sub(32)
                .and_then(|i| HELVETICA.get(i as usize))
                .map_or(556, |w| u32::from(*w))
        })
        .sum();
    units as f32 * size / 1000.0
}

/// Breaks `text` into lines at most `max` wide, at spaces, or inside words too long for
/// a line of their own.
pub(super) fn wrap(text: &str, size: f32, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if width(&candidate, size) <= max {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        for c in word.chars() {
            line.push(c);
            if width(&line, size) > max {
                line.pop();
                lines.push(std::mem::take(&mut line));
                line.push(c);
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_measured_and_wrapped_to_fit() {
        assert!((width("0.045", 10.0) - 25.02).abs() < 1e-3);
        assert_eq!(wrap("", 10.0, 100.0), vec![String::new()]);
        let long = "Generations: a-model-id-that-is-far-too-long-to-fit-on-one-line-of-the-table";
        let lines = wrap(long, 10.0, 120.0);
        assert!(lines.len() > 2, "{lines:?}");
        assert!(lines.iter().all(|l| width(l, 10.0) <= 120.0), "{lines:?}");
        assert_eq!(lines.concat().replace(' ', ""), long.replace(' ', ""));
    }

    #[test]
    fn text_is_encoded_for_win_ansi() {
        assert_eq!(
            win_ansi("Müller €5 – ok"),
            b"M\xfcller \x805 \x96 ok".to_vec()
        );
        assert_eq!(win_ansi("日本"), b"??".to_vec());
    }
}
