//! Text for the PDF's standard fonts: Unicode mapped to WinAnsiEncoding
//! bytes, and the width of those bytes in Helvetica and Helvetica-Bold.
//!
//! The PDF uses two of the fourteen standard fonts every reader has, so no
//! font file is embedded. Those fonts can only show the 217 characters of
//! WinAnsiEncoding (Windows code page 1252). Everything a reporter typed is
//! mapped to those bytes here: common typography (’ “ ” – — … £ é) to its
//! own byte, invisible joiners and accents that cannot be shown dropped,
//! and anything else (emoji, other scripts) to `?`, so no input can make a
//! broken PDF.

/// The two faces the PDF uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Font {
    Regular,
    Bold,
}

impl Font {
    /// The PostScript name of the standard font.
    pub(crate) fn base_font(self) -> &'static str {
        match self {
            Font::Regular => "Helvetica",
            Font::Bold => "Helvetica-Bold",
        }
    }

    /// The resource name the page content uses for it.
    pub(crate) fn resource(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
        }
    }

    /// Glyph widths in thousandths of the font size, for codes 32 to 255
    /// ([`FIRST_CODE`] onwards), as in the font's PDF `/Widths` array.
    pub(crate) fn widths(self) -> &'static [u16; 224] {
        match self {
            Font::Regular => &HELVETICA_WIDTHS,
            Font::Bold => &HELVETICA_BOLD_WIDTHS,
        }
    }

    /// The width of one WinAnsi byte, in points at `size`. Control bytes,
    /// which [`encode`] never produces, have no width.
    pub(crate) fn byte_width(self, byte: u8, size: f32) -> f32 {
        match byte.checked_sub(FIRST_CODE) {
            Some(i) => f32::from(self.widths()[usize::from(i)]) * size / 1000.0,
            None => 0.0,
        }
    }

    /// The width of WinAnsi bytes set in this font, in points at `size`.
    pub(crate) fn text_width(self, bytes: &[u8], size: f32) -> f32 {
        bytes.iter().map(|b| self.byte_width(*b, size)).sum()
    }
}

/// The first code in the width tables (the space).
pub(crate) const FIRST_CODE: u8 = 32;

/// What a character becomes in WinAnsiEncoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mapped {
    Byte(u8),
    /// Invisible, or an accent that cannot be placed: left out.
    Nothing,
}

/// Windows-1252's characters at 0x80 to 0x9F, where it differs from Latin-1.
const CP1252_HIGH: [(char, u8); 27] = [
    ('€', 0x80),
    ('‚', 0x82),
    ('ƒ', 0x83),
    ('„', 0x84),
    ('…', 0x85),
    ('†', 0x86),
    ('‡', 0x87),
    ('ˆ', 0x88),
    ('‰', 0x89),
    ('Š', 0x8A),
    ('‹', 0x8B),
    ('Œ', 0x8C),
    ('Ž', 0x8E),
    ('‘', 0x91),
    ('’', 0x92),
    ('“', 0x93),
    ('”', 0x94),
    ('•', 0x95),
    ('–', 0x96),
    ('—', 0x97),
    ('˜', 0x98),
    ('™', 0x99),
    ('š', 0x9A),
    ('›', 0x9B),
    ('œ', 0x9C),
    ('ž', 0x9E),
    ('Ÿ', 0x9F),
];

fn map_char(c: char) -> Mapped {
    let code = u32::from(c);
    match c {
        ' '..='~' => Mapped::Byte(code as u8),
        // Latin-1's printable half is the same in WinAnsi; the soft hyphen
        // is only a hint where a word may break, so it is left out.
        '\u{AD}' => Mapped::Nothing,
        '\u{A0}'..='\u{FF}' => Mapped::Byte(code as u8),
        '\t' => Mapped::Byte(b' '),
        // Joiners, variation selectors, skin tones, tags, byte-order marks
        // and combining accents: nothing to show on their own.
        '\u{200B}'..='\u{200F}'
        | '\u{2060}'..='\u{2064}'
        | '\u{FEFF}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{1F3FB}'..='\u{1F3FF}'
        | '\u{E0000}'..='\u{E007F}'
        | '\u{0300}'..='\u{036F}' => Mapped::Nothing,
        '\u{2002}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => Mapped::Byte(b' '),
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2043}' | '\u{2212}' => Mapped::Byte(b'-'),
        '\u{2015}' => Mapped::Byte(0x97),
        '\u{2032}' | '\u{02BC}' => Mapped::Byte(b'\''),
        '\u{2033}' => Mapped::Byte(b'"'),
        '\u{2024}' => Mapped::Byte(b'.'),
        '\u{2044}' | '\u{2215}' => Mapped::Byte(b'/'),
        _ => match CP1252_HIGH.iter().find(|(ch, _)| *ch == c) {
            Some((_, b)) => Mapped::Byte(*b),
            None => Mapped::Byte(b'?'),
        },
    }
}

/// One line of text as WinAnsi bytes. Line breaks must already have been
/// taken out (see [`paragraphs`]); any control character left becomes `?`.
pub(crate) fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        if let Mapped::Byte(b) = map_char(c) {
            out.push(b);
        }
    }
    out
}

/// Text split at every kind of line break a person or a program may have
/// typed (`\n`, `\r\n`, `\r`, vertical tab, form feed, NEL, U+2028/9).
pub(crate) fn paragraphs(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if matches!(
            c,
            '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
        ) {
            out.push(&text[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' {
                if let Some((j, '\n')) = chars.peek().copied() {
                    chars.next();
                    end = j + 1;
                }
            }
            start = end;
        }
    }
    out.push(&text[start..]);
    out
}

/// Helvetica's widths (Adobe's AFM) for WinAnsi codes 32 to 255. Codes
/// WinAnsi leaves unused show a bullet and have its width.
const HELVETICA_WIDTHS: [u16; 224] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, //
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, //
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, //
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, //
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, //
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 350, //
    556, 350, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 350, 611, 350, //
    350, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 350, 500, 667, //
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333, //
    400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611, //
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, //
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, //
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278, //
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500, //
];

/// Helvetica-Bold's widths (Adobe's AFM) for WinAnsi codes 32 to 255.
const HELVETICA_BOLD_WIDTHS: [u16; 224] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, //
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, //
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, //
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, //
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, //
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, 350, //
    556, 350, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 350, 611, 350, //
    350, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 350, 500, 667, //
    278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333, //
    400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611, //
    722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, //
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, //
    556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278, //
    611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556, //
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_is_unchanged() {
        assert_eq!(encode("Call 999 (now) & 100%"), b"Call 999 (now) & 100%".to_vec());
    }

    #[test]
    fn common_typography_keeps_its_winansi_byte() {
        assert_eq!(encode("’"), vec![0x92]);
        assert_eq!(encode("“quoted”"), [&[0x93][..], b"quoted", &[0x94]].concat());
        assert_eq!(encode("– — …"), vec![0x96, b' ', 0x97, b' ', 0x85]);
        assert_eq!(encode("£20 €5"), [&[0xA3][..], b"20 ", &[0x80], b"5"].concat());
        assert_eq!(
            encode("café naïve"),
            [&b"caf"[..], &[0xE9], b" na", &[0xEF], b"ve"].concat()
        );
        assert_eq!(encode("•"), vec![0x95]);
    }

    #[test]
    fn what_cannot_be_shown_becomes_a_question_mark_or_nothing() {
        assert_eq!(encode("ok 😀"), b"ok ?".to_vec());
        // A thumbs-up with a skin tone and a variation selector is one mark.
        assert_eq!(encode("👍🏽\u{FE0F}"), b"?".to_vec());
        assert_eq!(encode("Ελλάδα"), b"??????".to_vec());
        // A decomposed é shows its letter rather than a stray mark.
        assert_eq!(encode("e\u{301}"), b"e".to_vec());
        assert_eq!(encode("a\u{7}b\u{0}c\u{1b}\u{9f}"), b"a?b?c??".to_vec());
        assert_eq!(encode("zero\u{200B}width"), b"zerowidth".to_vec());
        assert_eq!(encode("tab\there"), b"tab here".to_vec());
    }

    #[test]
    fn every_byte_produced_has_a_width() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        for b in encode(&all) {
            assert!(b >= FIRST_CODE, "control byte {b:#x} produced");
            assert!(Font::Regular.byte_width(b, 10.0) > 0.0, "{b:#x}");
        }
    }

    #[test]
    fn widths_are_helveticas() {
        // H e l l o in Helvetica: 722 + 556 + 222 + 222 + 556.
        assert!((Font::Regular.text_width(b"Hello", 10.0) - 22.78).abs() < 1e-3);
        // Bold is wider: 722 + 556 + 278 + 278 + 611.
        assert!((Font::Bold.text_width(b"Hello", 10.0) - 24.45).abs() < 1e-3);
        assert_eq!(Font::Regular.byte_width(b'W', 1000.0), 944.0);
        assert_eq!(Font::Regular.byte_width(0x97, 1000.0), 1000.0); // em dash
        assert_eq!(Font::Regular.byte_width(0xE9, 1000.0), 556.0); // é
    }

    #[test]
    fn paragraphs_split_at_every_line_break() {
        assert_eq!(paragraphs("one"), vec!["one"]);
        assert_eq!(paragraphs(""), vec![""]);
        assert_eq!(
            paragraphs("a\nb\r\nc\rd\u{2028}e\u{0C}f"),
            vec!["a", "b", "c", "d", "e", "f"]
        );
        assert_eq!(paragraphs("a\n\nb\n"), vec!["a", "", "b", ""]);
    }
}
